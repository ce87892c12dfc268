/**
 * A rekey run (issue 16 §3): existing backups of a job re-encrypted to new keys, for key
 * rotation and for a key holder who left. The order of each copy's steps is in rekey-copy.ts;
 * this plans which copies to re-encrypt and records the run:
 *
 *   1. plan: every backup (or the one `backup` selects) in every destination given, with what it
 *      is encrypted to now; copies already encrypted to the target recipients are left as they
 *      are. The keys to read them are checked here, before anything is written or recorded;
 *   2. with `dryRun` the plan is returned and nothing is written (no object, no history);
 *   3. otherwise the job's lease is taken (no backup, prune or other rekey of the job meanwhile;
 *      a lease another run holds ends this one SKIPPED, recorded with the holder, nothing
 *      written), the run recorded RUNNING (kind "rekey"), and the copies re-encrypted one at a time. The
 *      first copy that fails ends the run FAILED with its cause and one alert; copies already
 *      done stay done (each is a complete backup either way).
 */

import { LeaseHeldError, messageOf, UserError } from '../errors.ts';
import type { HistoryItem } from '../history/history.ts';
import type { Manifest } from '../manifest.ts';
import { newRunId } from '../manifest.ts';
import { redact } from '../redact.ts';
import type { Destination } from '../storage/destination.ts';
import { listBackups, manifestId } from './catalog.ts';
import type { JobContext } from './context.ts';
import { resolveCopy } from './copies.ts';
import { type DecryptKeys, requireKeysFor } from './decode.ts';
import { type FinishedItem, finishRun, pipelineFinishDeps } from './finish-run.ts';
import {
  alreadyEncryptedTo,
  leftoversOf,
  type RekeyedCopy,
  type RekeyTarget,
  rekeyCopy,
  removeUnlessLocked,
  targetRecipients,
} from './rekey-copy.ts';

export interface RekeyRequest {
  /** Keys that read the backups as they are encrypted now (restore's keys). */
  readonly keys: DecryptKeys | undefined;
  readonly target: RekeyTarget;
  /** The destinations to re-encrypt in (the job's, or the one `--destination` names). */
  readonly destinations: readonly Destination[];
  /** A backup selector (`latest`, an id, a time…); every backup of the job when absent. */
  readonly backup?: string;
  readonly dryRun: boolean;
}

/** One copy the plan looked at. */
export interface PlannedCopy {
  readonly destination: string;
  readonly id: string;
  readonly key: string;
  /** `rekey`: to be re-encrypted; `current`: already encrypted to the target recipients. */
  readonly action: 'rekey' | 'current';
  /** What it is encrypted to now: `openpgp AAAA…, BBBB…`, `passphrase`, `none`. */
  readonly encryptedTo: string;
}

export interface RekeyResult {
  /** Undefined for a dry run (nothing was recorded). */
  readonly runId?: string;
  readonly recipients: string[];
  readonly plan: PlannedCopy[];
  readonly copies: RekeyedCopy[];
  /** Old objects kept because Object Lock forbids deleting them (`key: object lock until …`). */
  readonly keptLocked: string[];
  /** Objects an earlier, interrupted rekey left, removed by this one. */
  readonly leftoversRemoved: string[];
  readonly durationMs: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

function describeEncryption(m: Manifest): string {
  return m.encryption.type === 'openpgp'
    ? `openpgp ${m.encryption.recipients.join(', ')}`
    : m.encryption.type;
}

/** The manifests to look at in each destination: all, or those of the backup `selector` picks. */
async function planCopies(
  ctx: Pick<JobContext, 'prefix' | 'job'>,
  request: RekeyRequest,
): Promise<Array<{ dest: Destination; manifest: Manifest; action: PlannedCopy['action'] }>> {
  const wanted = request.backup
    ? manifestId((await resolveCopy(request.destinations, ctx.prefix, ctx.job.name, request.backup)).manifest)
    : undefined;
  const out: Array<{ dest: Destination; manifest: Manifest; action: PlannedCopy['action'] }> = [];
  for (const dest of request.destinations) {
    const { manifests } = await listBackups(dest, ctx.prefix, ctx.job.name);
    for (const manifest of manifests) {
      if (wanted && manifestId(manifest) !== wanted) continue;
      const current = alreadyEncryptedTo(manifest, request.target.encryption);
      if (!current) requireKeysFor(manifest, request.keys, manifestId(manifest));
      out.push({ dest, manifest, action: current ? 'current' : 'rekey' });
    }
  }
  return out;
}

/** Plans and (unless `dryRun`) runs a rekey of `ctx.job`; see the module comment. */
export async function runRekey(ctx: JobContext, request: RekeyRequest): Promise<RekeyResult> {
  const now = ctx.now ?? (() => new Date());
  const step = (message: string) => ctx.progress?.({ type: 'step', message });
  const started = now();
  const recipients = targetRecipients(request.target.encryption);
  const planned = await planCopies(ctx, request);
  const plan: PlannedCopy[] = planned.map(({ dest, manifest, action }) => ({
    destination: dest.name,
    id: manifestId(manifest),
    key: manifest.object.key,
    action,
    encryptedTo: describeEncryption(manifest),
  }));
  const empty = { recipients, plan, copies: [], keptLocked: [], leftoversRemoved: [] };
  if (request.dryRun) return { ...empty, durationMs: now().getTime() - started.getTime() };

  const runId = ctx.runId ?? newRunId(started);
  const item: HistoryItem = {
    job: ctx.job.name,
    runId,
    kind: 'rekey',
    status: 'RUNNING',
    trigger: ctx.trigger,
    startedAt: started.toISOString(),
  };
  const lease = await ctx.history.acquireLease(ctx.job.name, runId, ctx.leaseTtlMs ?? DAY_MS, started);
  if (!lease.acquired) {
    // Recorded like a backup that found the lease held: the run happened and was skipped, and
    // `history` says by whom (the SKIPPED alert goes out once per streak of the job's rekeys).
    const error = `another run (${lease.heldBy.runId}) of ${ctx.job.name} holds the job until ${lease.heldBy.expiresAt}; nothing was re-encrypted, try again when it has finished`;
    await finishRun(
      pipelineFinishDeps(ctx),
      { ...item, status: 'SKIPPED', finishedAt: now().toISOString(), durationMs: 0, error },
      { investigate: ctx.investigate(runId) },
    );
    throw new LeaseHeldError(error);
  }
  const copies: RekeyedCopy[] = [];
  const keptLocked: string[] = [];
  const leftoversRemoved: string[] = [];
  const errors: string[] = [];
  try {
    await ctx.history.save(item);
    try {
      for (const { dest, manifest, action } of planned) {
        ctx.signal?.throwIfAborted();
        const leftovers = await leftoversOf(dest, ctx.prefix, manifest);
        if (leftovers.length) {
          const removal = await removeUnlessLocked(dest, leftovers, now());
          leftoversRemoved.push(...removal.removed);
          keptLocked.push(...removal.keptLocked);
          errors.push(...removal.errors);
          if (removal.removed.length)
            step(
              `destination ${dest.name}: removed what an interrupted rekey left: ${removal.removed.join(', ')}`,
            );
        }
        if (action === 'current') continue;
        const { copy, removal } = await rekeyCopy(dest, ctx.prefix, manifest, {
          runId,
          keys: request.keys,
          target: request.target,
          now,
          step,
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        });
        copies.push(copy);
        keptLocked.push(...removal.keptLocked);
        errors.push(...removal.errors);
      }
      if (errors.length) {
        throw new UserError(
          `could not delete ${errors.length === 1 ? 'an old object' : `${errors.length} old objects`} after re-encrypting (${errors[0]}${errors.length > 1 ? `; +${errors.length - 1} more` : ''}); the backups use the new keys, run rekey again to remove the old objects`,
        );
      }
    } catch (thrown) {
      const err: unknown = ctx.signal?.aborted ? ctx.signal.reason : thrown;
      const finished = now();
      await finishRun(
        pipelineFinishDeps(ctx),
        {
          ...item,
          status: 'FAILED',
          finishedAt: finished.toISOString(),
          durationMs: finished.getTime() - started.getTime(),
          error: redact(messageOf(err)).split('\n')[0]!,
          details: details(copies, recipients, keptLocked),
        },
        { investigate: ctx.investigate(runId) },
      );
      throw err;
    }
    const finished = now();
    const done: FinishedItem = {
      ...item,
      status: 'SUCCEEDED',
      finishedAt: finished.toISOString(),
      durationMs: finished.getTime() - started.getTime(),
      bytes: copies.reduce((sum, c) => sum + c.bytes, 0),
      ...(copies.length === 1 ? { key: copies[0]!.to, sha256: copies[0]!.sha256 } : {}),
      details: details(copies, recipients, keptLocked),
    };
    await finishRun(pipelineFinishDeps(ctx), done, { investigate: ctx.investigate(runId) });
    return {
      runId,
      recipients,
      plan,
      copies,
      keptLocked,
      leftoversRemoved,
      durationMs: done.durationMs!,
    };
  } finally {
    await ctx.history.releaseLease(ctx.job.name, runId);
  }
}

/** The history `details` of a rekey run: what `history` shows and what an audit needs. */
function details(
  copies: readonly RekeyedCopy[],
  recipients: readonly string[],
  keptLocked: readonly string[],
): Record<string, unknown> {
  const to = recipients.length ? recipients.join(', ') : 'the passphrase';
  return {
    summary: `re-encrypted ${copies.length} cop${copies.length === 1 ? 'y' : 'ies'} to ${to}${keptLocked.length ? `; ${keptLocked.length} old object(s) kept under Object Lock` : ''}`,
    recipients: [...recipients],
    copies: copies.map((c) => ({
      destination: c.destination,
      id: c.id,
      from: c.from,
      to: c.to,
      verified: c.verified,
    })),
    ...(keptLocked.length ? { keptLocked: [...keptLocked] } : {}),
  };
}
