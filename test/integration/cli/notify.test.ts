/**
 * Notification channels through the CLI with real backups (sqlite3, file destination): a real
 * HTTP receiver on loopback gets the alert, nothing for the same cause again, a re-sent alert
 * for a new cause and the "recovered" message; a 500 is retried; a channel that is down is
 * logged and does not fail the backup, and its alert goes out with the next run.
 */
import { EventEmitter } from 'node:events';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import type { Scheduler } from '../../../core/serve/scheduler.ts';
import { serveCommand } from '../../../task-image/cli/commands/serve.ts';
import { type Io, Output } from '../../../task-image/cli/output.ts';
import { runCli } from '../../support/cli.ts';
import { createSqliteDb } from '../../support/databases.ts';
import { ManualClock } from '../../support/manual-clock.ts';
import { type SmtpReceiver, startSmtpReceiver } from '../../support/smtp-receiver.ts';
import { TIMEOUT } from '../../support/timeouts.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../support/webhook-receiver.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
let hooks: WebhookReceiver;
const DAY = 24 * 3_600_000;
const SLACK_TOKEN_PATH = '/services/T000/B000/XyZ-sl4ck-t0ken-secret';

beforeAll(async () => {
  ws = await createWorkspace();
  createSqliteDb(path.join(ws.dir, 'good.db'));
  hooks = await startWebhookReceiver();
});
afterAll(async () => {
  await hooks?.stop();
  await ws?.remove();
});

const job = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  engine: 'sqlite',
  source: { url: `sqlite:./${name}.db` },
  destinations: ['local'],
  ...extra,
});

const backup = (name: string, env: Record<string, string> = {}) =>
  runCli(['backup', name, '--config', ws.configFile], env);

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('webhook channel', () => {
  it(
    'posts one alert per outage, again for a new cause, then "recovered"; a Slack body through urlEnv',
    async () => {
      await ws.writeConfig({
        destinations: { local: { type: 'file', path: './backups' } },
        notify: {
          channels: [
            { type: 'webhook', name: 'ops', url: hooks.url('/json') },
            { type: 'webhook', name: 'chat', urlEnv: 'DV_SLACK_URL', format: 'slack' },
          ],
        },
        jobs: [job('flaky')],
      });
      const env = { DV_SLACK_URL: hooks.url(SLACK_TOKEN_PATH) };

      // Outage, cause 1: the database file does not exist.
      expect((await backup('flaky', env)).code).toBe(1);
      expect((await backup('flaky', env)).code).toBe(1);
      // Cause 2: the database is back, but the destination folder is a file. Each run's message
      // names a probe file with a random hex name: still one cause (a third FAILED here was
      // causeKey folding "…9588" and "…e9ee" differently).
      await copyFile(path.join(ws.dir, 'good.db'), path.join(ws.dir, 'flaky.db'));
      await rm(path.join(ws.dir, 'backups'), { recursive: true, force: true });
      await writeFile(path.join(ws.dir, 'backups'), 'not a folder');
      expect((await backup('flaky', env)).code).toBe(1);
      expect((await backup('flaky', env)).code).toBe(1);
      // Recovered.
      await rm(path.join(ws.dir, 'backups'));
      await mkdir(path.join(ws.dir, 'backups'));
      const ok = await backup('flaky', env);
      expect(ok.code).toBe(0);

      const json = hooks.delivered('/json');
      expect(json.map((e) => `${e['type']}:${e['status']}`)).toEqual([
        'alert:FAILED',
        'alert:FAILED',
        'alert:RECOVERED',
      ]);
      expect(json[0]).toMatchObject({
        job: 'flaky',
        kind: 'backup',
        subject: 'dumpvault: backup of flaky FAILED',
      });
      expect(json[0]!['cause']).not.toEqual(json[1]!['cause']);
      expect(String(json[1]!['body'])).toContain('Cause:');
      expect(json[2]!['cause']).toBeUndefined();

      const slack = hooks.delivered(SLACK_TOKEN_PATH);
      expect(slack).toHaveLength(3);
      expect(Object.keys(slack[0]!)).toEqual(['text']);
      expect(String(slack[0]!['text'])).toContain('dumpvault: backup of flaky FAILED');
      expect(String(slack[2]!['text'])).toContain('recovered');
      // The token in the URL appears nowhere dumpvault writes.
      expect(await ws.everything()).not.toContain('sl4ck-t0ken');
    },
    TIMEOUT.roundTrips,
  );

  it(
    'retries a webhook that answers 500, and the next attempt delivers',
    async () => {
      await ws.writeConfig({
        destinations: { local: { type: 'file', path: './backups' } },
        notify: { channels: [{ type: 'webhook', name: 'ops', url: hooks.url('/retry') }] },
        jobs: [job('retried')],
      });
      hooks.answer(500);
      const run = await backup('retried');
      expect(run.code).toBe(1);
      const tries = hooks.requests.filter((r) => r.path === '/retry');
      expect(tries.map((r) => r.status)).toEqual([500, 200]);
      expect(tries[1]!.body).toMatchObject({ type: 'alert', status: 'FAILED', job: 'retried' });
      expect(run.stderr).toMatch(
        /notify webhook ops \(127\.0\.0\.1:\d+\): attempt 1 of 4 failed \(HTTP 500\); retrying/,
      );
      expect(run.stderr).toMatch(/notify webhook ops .*delivered on attempt 2/);
    },
    TIMEOUT.roundTrips,
  );

  it(
    'a channel that is down is logged and does not fail the backup; the alert goes out with the next run',
    async () => {
      const down = `http://127.0.0.1:${await closedPort()}/down`;
      const config = (url: string) => ({
        destinations: { local: { type: 'file', path: './backups' } },
        notify: { channels: [{ type: 'webhook', name: 'pager', url, retries: 1, timeoutSeconds: 5 }] },
        jobs: [job('downstream')],
      });
      await ws.writeConfig(config(hooks.url('/pager')));
      expect((await backup('downstream')).code).toBe(1);
      expect(hooks.delivered('/pager').map((e) => e['status'])).toEqual(['FAILED']);

      await copyFile(path.join(ws.dir, 'good.db'), path.join(ws.dir, 'downstream.db'));
      await ws.writeConfig(config(down));
      const run = await backup('downstream');
      expect(run.code).toBe(0);
      const [last] = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('downstream');
      expect(last?.status).toBe('SUCCEEDED');
      expect(run.stderr).toMatch(/notify webhook pager .*gave up after 2 attempt\(s\)/);

      // The channel is back: the next run delivers the recovery it missed, once.
      await ws.writeConfig(config(hooks.url('/pager')));
      expect((await backup('downstream')).code).toBe(0);
      expect((await backup('downstream')).code).toBe(0);
      expect(hooks.delivered('/pager').map((e) => e['status'])).toEqual(['FAILED', 'RECOVERED']);
    },
    TIMEOUT.roundTrips,
  );
});

describe('smtp channel', () => {
  const SMTP_PASSWORD = 'smtp-Pa55word-9c1e-secret';
  let smtp: SmtpReceiver;
  beforeAll(async () => {
    smtp = await startSmtpReceiver({ user: 'dumpvault', password: SMTP_PASSWORD });
  });
  afterAll(async () => {
    await smtp?.stop();
  });

  const config = (extra: Record<string, unknown> = {}) => ({
    destinations: { local: { type: 'file', path: './backups' } },
    notify: {
      channels: [
        {
          type: 'smtp',
          name: 'mail',
          host: '127.0.0.1',
          port: smtp.port,
          tls: 'starttls',
          caFile: smtp.caFile,
          user: 'dumpvault',
          passwordEnv: 'DV_SMTP_PASSWORD',
          from: 'dumpvault@example.com',
          to: ['ops@example.com', 'dba@example.com'],
          ...extra,
        },
      ],
    },
    jobs: [job('mailed')],
  });

  it(
    'mails over STARTTLS with the password from the environment: the alert, a new cause, "recovered"',
    async () => {
      await ws.writeConfig(config());
      const env = { DV_SMTP_PASSWORD: SMTP_PASSWORD };
      const runs = [];
      runs.push(await backup('mailed', env));
      runs.push(await backup('mailed', env));
      await copyFile(path.join(ws.dir, 'good.db'), path.join(ws.dir, 'mailed.db'));
      await rm(path.join(ws.dir, 'backups'), { recursive: true, force: true });
      await writeFile(path.join(ws.dir, 'backups'), 'not a folder');
      runs.push(await backup('mailed', env));
      await rm(path.join(ws.dir, 'backups'));
      await mkdir(path.join(ws.dir, 'backups'));
      runs.push(await backup('mailed', env));
      expect(runs.map((r) => r.code)).toEqual([1, 1, 1, 0]);

      expect(smtp.mails.map((m) => m.subject)).toEqual([
        'dumpvault: backup of mailed FAILED',
        'dumpvault: backup of mailed FAILED',
        'dumpvault: backup of mailed recovered',
      ]);
      const [first, second] = smtp.mails;
      expect(first).toMatchObject({
        from: 'dumpvault@example.com',
        to: ['ops@example.com', 'dba@example.com'],
        secure: true,
        user: 'dumpvault',
      });
      expect(first!.headers['x-dumpvault-status']).toBe('FAILED');
      expect(first!.text).toContain('Job:       mailed');
      expect(second!.text).toMatch(/Cause: .*backups/);
      // The password reached the server and nothing else.
      expect(smtp.refusedLogins).toBe(0);
      expect(runs.map((r) => r.stdout + r.stderr).join('')).not.toContain(SMTP_PASSWORD);
      expect(await ws.everything()).not.toContain(SMTP_PASSWORD);
    },
    TIMEOUT.roundTrips,
  );

  it(
    'a refused login is logged without the password, not retried, and does not fail the backup',
    async () => {
      await ws.writeConfig(config());
      const wrong = 'wrong-Pa55word-77aa';
      const before = smtp.mails.length;
      const run = await backup('mailed', { DV_SMTP_PASSWORD: wrong });
      expect(run.code).toBe(0);
      // `mailed` recovered in the test before: nothing to send. Fail it to get an alert out.
      await rm(path.join(ws.dir, 'mailed.db'));
      const failed = await backup('mailed', { DV_SMTP_PASSWORD: wrong });
      expect(failed.code).toBe(1);
      expect(smtp.mails.length).toBe(before);
      expect(smtp.refusedLogins).toBe(1);
      expect(failed.stderr).toMatch(
        /notify smtp mail \(127\.0\.0\.1\): could not deliver .*EAUTH.*gave up after 1 attempt/,
      );
      expect(failed.stderr + failed.stdout).not.toContain(wrong);
    },
    TIMEOUT.roundTrips,
  );
});

describe('smtp channel TLS modes', () => {
  const SMTP_PASSWORD = 'tls-Pa55word-6e0b-secret';
  const mailJob = (name: string, channel: Record<string, unknown>) => ({
    destinations: { local: { type: 'file', path: './backups' } },
    notify: {
      channels: [
        {
          type: 'smtp',
          name: 'mail',
          host: '127.0.0.1',
          user: 'dumpvault',
          passwordEnv: 'DV_SMTP_PASSWORD',
          from: 'dumpvault@example.com',
          to: ['ops@example.com'],
          retries: 0,
          ...channel,
        },
      ],
    },
    jobs: [job(name)],
  });

  it(
    'mails over implicit TLS ("tls": "implicit", port 465 style)',
    async () => {
      const smtp = await startSmtpReceiver({ user: 'dumpvault', password: SMTP_PASSWORD }, 'implicit');
      try {
        await ws.writeConfig(mailJob('implicit', { tls: 'implicit', port: smtp.port, caFile: smtp.caFile }));

        const run = await backup('implicit', { DV_SMTP_PASSWORD: SMTP_PASSWORD });

        expect(run.code).toBe(1); // implicit.db does not exist: an alert to send
        expect(smtp.mails.map((m) => m.subject)).toEqual(['dumpvault: backup of implicit FAILED']);
        expect(smtp.mails[0]).toMatchObject({ secure: true, user: 'dumpvault' });
      } finally {
        await smtp.stop();
      }
    },
    TIMEOUT.roundTrips,
  );

  it(
    'never sends the password to a server that offers no STARTTLS ("tls": "starttls", the default): logged, the backup keeps its own outcome',
    async () => {
      // Bug caught (possible): an opportunistic STARTTLS that falls back to clear-text AUTH.
      const smtp = await startSmtpReceiver({ user: 'dumpvault', password: SMTP_PASSWORD }, 'none');
      try {
        await ws.writeConfig(mailJob('cleartext', { port: smtp.port, caFile: smtp.caFile }));

        const run = await backup('cleartext', { DV_SMTP_PASSWORD: SMTP_PASSWORD });

        expect(run.code).toBe(1); // the backup's own failure (cleartext.db does not exist), nothing else
        expect(smtp.logins).toBe(0);
        expect(smtp.mails).toEqual([]);
        expect(run.stderr).toMatch(
          /notify smtp mail \(127\.0\.0\.1\): could not deliver .*gave up after 1 attempt/,
        );
        const [last] = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('cleartext');
        expect(last?.error).toMatch(/cleartext\.db/);
      } finally {
        await smtp.stop();
      }
    },
    TIMEOUT.roundTrips,
  );
});

describe('de-duplication per channel', () => {
  const SMTP_PASSWORD = 'split-Pa55word-4d2a-secret';
  let smtp: SmtpReceiver;
  beforeAll(async () => {
    smtp = await startSmtpReceiver({ user: 'dumpvault', password: SMTP_PASSWORD });
  });
  afterAll(async () => {
    await smtp?.stop();
  });

  it(
    'a channel that failed gets the alert alone with the next run; the channel that took it does not get it twice (all channels were re-sent before)',
    async () => {
      // Prepare: a webhook that refuses the first alert (no retries) and a mail server that takes it.
      await ws.writeConfig({
        destinations: { local: { type: 'file', path: './backups' } },
        notify: {
          channels: [
            { type: 'webhook', name: 'hook', url: hooks.url('/split'), retries: 0 },
            {
              type: 'smtp',
              name: 'mail',
              host: '127.0.0.1',
              port: smtp.port,
              caFile: smtp.caFile,
              user: 'dumpvault',
              passwordEnv: 'DV_SMTP_PASSWORD',
              from: 'dumpvault@example.com',
              to: ['ops@example.com'],
              retries: 0,
            },
          ],
        },
        jobs: [job('split')],
      });
      const env = { DV_SMTP_PASSWORD: SMTP_PASSWORD };
      const mails = () => smtp.mails.map((m) => m.subject);
      const hookAlerts = () => hooks.delivered('/split').map((e) => `${e['status']} ${e['runId']}`);
      hooks.answer(503);

      // Act 1: the database is missing, the webhook answers 503.
      const first = await backup('split', env);

      // Assess 1: the mail went out; the webhook got one refused attempt.
      expect(first.code).toBe(1);
      expect(mails()).toEqual(['dumpvault: backup of split FAILED']);
      expect(hooks.requests.filter((r) => r.path === '/split').map((r) => r.status)).toEqual([503]);
      expect(first.stderr).toMatch(/notify webhook hook .*gave up after 1 attempt/);

      // Act 2: the same outage, the webhook is back.
      const second = await backup('split', env);

      // Assess 2: the webhook gets the alert it missed (of the first run); no second mail.
      expect(second.code).toBe(1);
      const [firstRun] = (await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('split')).slice(
        -1,
      );
      expect(hookAlerts()).toEqual([`FAILED ${firstRun!.runId}`]);
      expect(mails()).toEqual(['dumpvault: backup of split FAILED']);

      // Act 3: still the same outage, then the recovery.
      expect((await backup('split', env)).code).toBe(1);
      await copyFile(path.join(ws.dir, 'good.db'), path.join(ws.dir, 'split.db'));
      expect((await backup('split', env)).code).toBe(0);

      // Assess 3: each channel has one FAILED and one "recovered", nothing twice.
      expect(hookAlerts().map((a) => a.split(' ')[0])).toEqual(['FAILED', 'RECOVERED']);
      expect(mails()).toEqual(['dumpvault: backup of split FAILED', 'dumpvault: backup of split recovered']);
    },
    TIMEOUT.roundTrips,
  );
});

describe('command channel', () => {
  it(
    'hands the event as JSON on stdin to a program that gets only the env it names, retrying a failed exit',
    async () => {
      const hook = path.join(ws.dir, 'hook.mjs');
      const out = path.join(ws.dir, 'hook-events.jsonl');
      // Fails its first call (exit 3), then appends {event, env names} per call.
      await writeFile(
        hook,
        `import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
const marker = process.argv[3] + '.first';
let input = '';
for await (const chunk of process.stdin) input += chunk;
if (!existsSync(marker)) { writeFileSync(marker, ''); process.exit(3); }
appendFileSync(process.argv[2], JSON.stringify({ event: JSON.parse(input), env: Object.keys(process.env), token: process.env.DV_HOOK_TOKEN }) + '\\n');
`,
      );
      await ws.writeConfig({
        destinations: { local: { type: 'file', path: './backups' } },
        jobs: [
          job('hooked', {
            notify: {
              channels: [
                {
                  type: 'command',
                  name: 'pager',
                  command: [process.execPath, hook, out, out],
                  env: ['DV_HOOK_TOKEN'],
                },
              ],
            },
          }),
        ],
      });
      const run = await backup('hooked', {
        DV_HOOK_TOKEN: 'tok-123',
        DV_DB_PASSWORD: 'not-for-hooks-5f2a',
        DUMPVAULT_PASSPHRASE: 'not-for-hooks-either-77',
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        /notify command pager \(node\): attempt 1 of 4 failed \(.* exited with code 3\)/,
      );
      const lines = (await readFile(out, 'utf8')).trim().split('\n');
      expect(lines).toHaveLength(1);
      const got = JSON.parse(lines[0]!) as { event: Record<string, unknown>; env: string[]; token: string };
      expect(got.event).toMatchObject({ type: 'alert', job: 'hooked', status: 'FAILED', kind: 'backup' });
      expect(got.token).toBe('tok-123');
      expect(got.env).not.toContain('DV_DB_PASSWORD');
      expect(got.env).not.toContain('DUMPVAULT_PASSPHRASE');
      expect(got.env.filter((n) => n.startsWith('AWS_') || n.startsWith('DUMPVAULT_'))).toEqual([]);
    },
    TIMEOUT.roundTrips,
  );
});

describe('daily digest from dumpvault serve', () => {
  const SMTP_PASSWORD = 'digest-Pa55word-31b7';
  let smtp: SmtpReceiver;
  beforeAll(async () => {
    smtp = await startSmtpReceiver({ user: 'dumpvault', password: SMTP_PASSWORD });
  });
  afterAll(async () => {
    await smtp?.stop();
  });

  /** serve in-process on `clock`, its log captured, signals from an emitter the test owns. */
  function startServe(clock: ManualClock) {
    const log: string[] = [];
    const stderr = new Writable({
      write(chunk: Buffer, _enc, cb) {
        log.push(chunk.toString());
        cb();
      },
    });
    const io: Io = { stdout: stderr, stderr, env: { ...process.env, DV_SMTP_PASSWORD: SMTP_PASSWORD } };
    const signals = new EventEmitter();
    let started!: (scheduler: Scheduler) => void;
    const scheduler = new Promise<Scheduler>((resolve) => (started = resolve));
    const exit = serveCommand({ config: ws.configFile }, new Output(io, false), io, {
      clock,
      signals,
      onStarted: (s) => started(s),
    });
    return {
      exit,
      signals,
      log: () => log.join(''),
      /** Every firing has ended and the scheduler waits again. */
      idle: async () => {
        await (await scheduler).settled();
        await clock.sleeping();
      },
    };
  }

  it(
    'sends one digest a day at its time to the webhook and by mail, summarising every job',
    async () => {
      // Due two hours from now, on the minute.
      const due = new Date(Math.floor((Date.now() + 2 * 3_600_000) / 60_000) * 60_000);
      const at = due.toISOString().slice(11, 16);
      await ws.writeConfig({
        destinations: { local: { type: 'file', path: './backups' } },
        notify: {
          channels: [
            { type: 'webhook', name: 'ops', url: hooks.url('/digest') },
            {
              type: 'smtp',
              name: 'mail',
              host: '127.0.0.1',
              port: smtp.port,
              caFile: smtp.caFile,
              user: 'dumpvault',
              passwordEnv: 'DV_SMTP_PASSWORD',
              from: 'dumpvault@example.com',
              to: ['ops@example.com'],
            },
          ],
          digest: { at, timezone: 'UTC' },
        },
        jobs: [job('daily-ok', { source: { url: 'sqlite:./good.db' } }), job('daily-bad')],
      });
      // History holds wall-clock times: the backups run now, the digest is due within 24 h.
      expect((await backup('daily-ok')).code).toBe(0);
      expect((await backup('daily-bad')).code).toBe(1);
      const clock = new ManualClock(Date.now());
      const serve = startServe(clock);
      await clock.sleeping();
      const digests = () => hooks.delivered('/digest').filter((e) => e['type'] === 'digest');
      expect(clock.nextWake).toBe(due.getTime());
      await clock.set(due.getTime() - 60_000);
      await serve.idle();
      expect(digests()).toHaveLength(0);
      await clock.set(due.getTime());
      await serve.idle();
      expect(digests()).toHaveLength(1);
      const [digest] = digests();
      const subject = `dumpvault digest ${due.toISOString().slice(0, 10)}: 2 job(s), 1 not succeeding`;
      expect(digest).toMatchObject({
        type: 'digest',
        from: new Date(due.getTime() - DAY).toISOString(),
        to: due.toISOString(),
        subject,
      });
      const jobs = digest!['jobs'] as Array<Record<string, unknown>>;
      expect(jobs.find((j) => j['job'] === 'daily-ok')).toMatchObject({
        lastStatus: 'SUCCEEDED',
        runs: { SUCCEEDED: 1 },
      });
      expect(jobs.find((j) => j['job'] === 'daily-bad')).toMatchObject({
        lastStatus: 'FAILED',
        runs: { FAILED: 1 },
      });
      expect(String(jobs.find((j) => j['job'] === 'daily-bad')!['lastError'])).toContain('daily-bad.db');
      const mailed = smtp.mails.filter((m) => m.subject.startsWith('dumpvault digest'));
      expect(mailed.map((m) => m.subject)).toEqual([subject]);
      expect(mailed[0]!.text).toMatch(/daily-ok: SUCCEEDED; 1 SUCCEEDED in 24 h/);
      expect(mailed[0]!.text).toMatch(/daily-bad: FAILED; 1 FAILED in 24 h; never succeeded/);

      // Later the same day: nothing more. The next day at 08:00: the next digest.
      await clock.set(due.getTime() + DAY / 2);
      await serve.idle();
      expect(digests()).toHaveLength(1);
      await clock.set(due.getTime() + DAY);
      await serve.idle();
      expect(digests().map((d) => d['to'])).toEqual([
        due.toISOString(),
        new Date(due.getTime() + DAY).toISOString(),
      ]);
      expect(smtp.mails.filter((m) => m.subject.startsWith('dumpvault digest'))).toHaveLength(2);

      serve.signals.emit('SIGTERM');
      expect(await serve.exit).toBe(0);
      expect(serve.log()).toContain(`digest: "${subject}" sent to 2 channel(s)`);
    },
    TIMEOUT.roundTrips,
  );
});

describe('aws.alerts.successDigest', () => {
  it('is accepted without the old "local only" warning now that the AWS deployment publishes it', async () => {
    await ws.writeConfig({
      destinations: { local: { type: 'file', path: './backups' } },
      jobs: [job('validated')],
      aws: { alerts: { successDigest: { at: '07:30', timezone: 'Europe/Berlin' } } },
    });
    const run = await runCli(['validate', '--config', ws.configFile]);
    expect(run.code).toBe(0);
    expect(run.stderr).not.toMatch(/successDigest/);
  });

  it('refuses a time of day it cannot schedule, naming the path, before anything is deployed', async () => {
    await ws.writeConfig({
      destinations: { local: { type: 'file', path: './backups' } },
      jobs: [job('validated')],
      aws: { alerts: { successDigest: { at: '7am' } } },
    });
    const run = await runCli(['validate', '--config', ws.configFile]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(
      'aws.alerts.successDigest.at: expected a time of day like "08:00", got "7am"',
    );
  });
});
