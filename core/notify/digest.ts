/**
 * The daily success digest: one message summarising every job over the last 24 hours, sent by
 * `dumpvault serve` to the local channels (notify.digest) and by the AWS success-digest Lambda
 * to the SNS topic (aws.alerts.successDigest): one builder for both. It is sent whether or not anything failed: a digest that
 * stops arriving is itself the signal that the scheduler is gone.
 */
import type { Config, DigestTime } from '../config/schema.ts';
import { type HistoryItem, type HistoryStore, isFailedStatus } from '../history/history.ts';
import { redact } from '../redact.ts';
import type { Digest, DigestJob } from './notifier.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** When `aws.alerts.successDigest: true` sends the AWS digest. */
export const DEFAULT_DIGEST_TIME: DigestTime = { at: '08:00', timezone: 'UTC' };

/** When the AWS deployment publishes its digest (`aws.alerts.successDigest`), or undefined: none. */
export function awsDigestTime(config: Pick<Config, 'aws'>): DigestTime | undefined {
  const setting = config.aws?.alerts?.successDigest;
  if (!setting) return undefined;
  return setting === true ? DEFAULT_DIGEST_TIME : setting;
}

/**
 * The digest's daily schedule in the EventBridge Scheduler dialect: serve compiles it, the AWS
 * deployment hands it to Scheduler, so both send at the same local time across DST changes.
 */
export function digestSchedule(time: DigestTime): { cron: string; timezone: string } {
  const [hours, minutes] = time.at.split(':').map(Number);
  return { cron: `${minutes} ${hours} * * ? *`, timezone: time.timezone };
}

/** How many of a job's newest runs the digest reads (a job running every 5 min makes 288 a day). */
const RUNS_READ = 400;

function jobLine(d: DigestJob): string {
  const counts = Object.entries(d.runs)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
  const last = d.lastSuccessAt ? `last success ${d.lastSuccessAt}` : 'never succeeded';
  const size = d.lastBackupBytes !== undefined ? ` (${d.lastBackupBytes} bytes)` : '';
  const lines = [
    `${d.job}: ${d.lastStatus ?? 'never ran'}; ${counts || 'no backups'} in 24 h; ${last}${size}`,
  ];
  if (d.lastError) lines.push(`    newest failure: ${d.lastError}`);
  return lines.join('\n');
}

/** Summarises `jobs`' backups that finished in the 24 hours before `to`. */
export async function buildDigest(
  history: Pick<HistoryStore, 'list'>,
  jobs: readonly string[],
  to: Date,
): Promise<Digest> {
  const from = new Date(to.getTime() - DAY_MS);
  const entries = await Promise.all(
    jobs.map(async (job): Promise<DigestJob> => {
      const backups = (await history.list(job, { limit: RUNS_READ })).filter(
        (r) => r.kind === 'backup' && r.status !== 'RUNNING',
      );
      const at = (r: HistoryItem) => r.finishedAt ?? r.startedAt;
      const inPeriod = backups.filter((r) => at(r) > from.toISOString() && at(r) <= to.toISOString());
      const runs: Record<string, number> = {};
      for (const r of inPeriod) runs[r.status] = (runs[r.status] ?? 0) + 1;
      const newest = backups.find((r) => at(r) <= to.toISOString());
      const success = backups.find((r) => r.status === 'SUCCEEDED' && at(r) <= to.toISOString());
      const failure = inPeriod.find((r) => isFailedStatus(r.status) && r.error);
      return {
        job,
        ...(newest ? { lastStatus: newest.status } : {}),
        ...(success ? { lastSuccessAt: at(success) } : {}),
        ...(success?.bytes !== undefined ? { lastBackupBytes: success.bytes } : {}),
        runs,
        ...(failure?.error ? { lastError: redact(failure.error) } : {}),
      };
    }),
  );
  const failing = entries.filter((e) => e.lastStatus !== 'SUCCEEDED').length;
  const day = to.toISOString().slice(0, 10);
  const subject = `dumpvault digest ${day}: ${entries.length} job(s), ${failing ? `${failing} not succeeding` : 'all succeeding'}`;
  const body = [
    `Backups finished between ${from.toISOString()} and ${to.toISOString()}:`,
    '',
    ...entries.map(jobLine),
  ].join('\n');
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    jobs: entries,
    subject: subject.slice(0, 100),
    body: redact(body),
  };
}
