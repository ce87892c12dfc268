/**
 * The meta-backup step of a backup run (issue 16 §1). It runs after the run's copies and their
 * manifests are stored and never changes the run's status: a backup whose data is complete is
 * SUCCEEDED (or PARTIAL, for its own reasons) whether or not dumpvault's config could be saved
 * beside it. A meta-backup that fails is recorded on the run (`details.metaBackup`), printed as a
 * warning and alerted once per outage as "meta-backup of <job> FAILED" (then once "recovered"),
 * so a lost config copy is loud without hiding a good backup or holding back retention.
 */
import { AlertPart } from '../contracts/history-keys.ts';
import { messageOf } from '../errors.ts';
import type { HistoryStore } from '../history/history.ts';
import type { Notifier } from '../notify/notifier.ts';
import { announceOutcome } from '../pipeline/finish-run.ts';
import { redact } from '../redact.ts';
import type { Destination } from '../storage/destination.ts';
import type { MetaBackupSpec } from './document.ts';
import { encryptMeta, writeMetaBackup } from './store.ts';

/** What the step did, as recorded in the run's `details.metaBackup`. */
export type MetaOutcome =
  | { readonly status: 'ok'; readonly key: string; readonly destinations: string[]; readonly removed: number }
  | { readonly status: 'failed'; readonly error: string; readonly destinations: string[] };

/** The parts of a backup run's context the step uses (a JobContext is one). */
export interface MetaRun {
  readonly job: { readonly name: string };
  readonly prefix: string;
  readonly destinations: readonly Destination[];
  readonly history: HistoryStore;
  readonly notifier: Notifier;
  readonly investigate: (runId: string) => string;
  readonly pruneAfterBackup?: boolean;
}

/**
 * Writes the meta-backup after run `runId`'s copies and alerts its failure or recovery on its
 * own streak (announceOutcome, as finishRun does; an alert that could not be sent is told to
 * `step`). It records nothing itself: the run's finishRun puts the outcome on its history item.
 */
export async function metaBackupStep(
  run: MetaRun,
  spec: () => Promise<MetaBackupSpec>,
  runId: string,
  at: Date,
  step: (message: string) => void,
): Promise<MetaOutcome> {
  const meta = await runMetaBackup(spec, run.destinations, run.prefix, at, run.pruneAfterBackup !== false);
  if (meta.status === 'failed') step(`warning: ${meta.error}`);
  await announceOutcome(
    { history: run.history, notifier: run.notifier, warn: (message) => step(message) },
    {
      job: run.job.name,
      kind: 'backup',
      part: AlertPart.metaBackup,
      runId,
      status: meta.status === 'ok' ? 'SUCCEEDED' : 'FAILED',
      ...(meta.status === 'failed' ? { error: meta.error } : {}),
      investigate: run.investigate(runId),
    },
  );
  return meta;
}

/**
 * Builds the meta-backup (`spec` is called here, so a missing passphrase or key file fails this
 * step, not the backup) and writes it to every destination; `prune` keeps the newest few.
 */
export async function runMetaBackup(
  spec: () => Promise<MetaBackupSpec>,
  destinations: readonly Destination[],
  prefix: string,
  at: Date,
  prune: boolean,
): Promise<MetaOutcome> {
  let ciphertext: Buffer;
  try {
    const built = await spec();
    ciphertext = await encryptMeta(built.document, built.encryption);
  } catch (err) {
    return { status: 'failed', error: `meta-backup: ${oneLine(err)}`, destinations: [] };
  }
  const written: string[] = [];
  const errors: string[] = [];
  let key = '';
  let removed = 0;
  for (const dest of destinations) {
    try {
      const result = await writeMetaBackup(dest, prefix, ciphertext, at, prune);
      key = result.key;
      removed += result.removed.length;
      written.push(dest.name);
    } catch (err) {
      errors.push(oneLine(err));
    }
  }
  if (errors.length)
    return { status: 'failed', error: `meta-backup: ${errors.join('; ')}`, destinations: written };
  return { status: 'ok', key, destinations: written, removed };
}

function oneLine(err: unknown): string {
  return redact(messageOf(err)).split('\n')[0]!;
}
