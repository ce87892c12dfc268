/**
 * `dumpvault rekey <job> [--recipients <file|fingerprint> ...] [--backup <id>] [--destination
 * <name>] [--dry-run]`: re-encrypts the job's stored backups to new keys (issue 16 §3;
 * core/pipeline/rekey.ts and rekey-copy.ts say what a run promises).
 *
 * The keys it encrypts to are what the config says now (the job's `encryption` entry): rotating a
 * key is "change the config, then rekey". `--recipients` names other keys, as public key files
 * (like the config's `recipients`) or by the fingerprint of a key one of the config's encryption
 * entries lists. The backups are read with the keys `restore` reads them with: `--key` /
 * DUMPVAULT_PRIVATE_KEY (+ DUMPVAULT_KEY_PASSPHRASE), or the job's passphrase — the old one from
 * DUMPVAULT_OLD_PASSPHRASE when the passphrase itself is being rotated.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../../../core/config/load.ts';
import {
  fingerprintOf,
  loadRecipients,
  type Recipients,
  readPrivateKey,
} from '../../../core/crypto/openpgp.ts';
import { UsageError } from '../../../core/errors.ts';
import type { EncryptionSpec, JobContext } from '../../../core/pipeline/context.ts';
import type { DecryptKeys } from '../../../core/pipeline/decode.ts';
import { type RekeyResult, runRekey } from '../../../core/pipeline/rekey.ts';
import type { RekeyTarget } from '../../../core/pipeline/rekey-copy.ts';
import { registerSecret } from '../../../core/redact.ts';
import type { Flags } from '../args.ts';
import { withInterrupts } from '../interrupts.ts';
import { formatBytes, formatDuration, type Io, type Output } from '../output.ts';
import { jobIndex, openJob, resolveDecryptKeys, resolveEncryption } from '../resolve.ts';
import { readableDestinations } from './catalog.ts';

const FINGERPRINT = /^(?:0x)?[0-9A-Fa-f]{40}$/;

/** Every public key the config's openpgp encryption entries list, for `--recipients <fingerprint>`. */
async function configKeys(loaded: LoadedConfig): Promise<Recipients['keys']> {
  const keys: Recipients['keys'] = [];
  for (const enc of Object.values(loaded.config.encryption)) {
    if (enc.type === 'openpgp') keys.push(...(await loadRecipients(enc.recipients, loaded.baseDir)).keys);
  }
  return keys;
}

/** `--recipients`: public key files (relative to the working directory) or fingerprints of config keys. */
async function recipientsFlag(loaded: LoadedConfig, values: readonly string[]): Promise<Recipients> {
  const files = values.filter((v) => !FINGERPRINT.test(v) || existsSync(v));
  const fingerprints = values
    .filter((v) => !files.includes(v))
    .map((v) => v.replace(/^0x/, '').toUpperCase());
  const keys = files.length ? [...(await loadRecipients(files, process.cwd())).keys] : [];
  if (fingerprints.length) {
    const known = await configKeys(loaded);
    for (const fpr of fingerprints) {
      const key = known.find((k) => fingerprintOf(k) === fpr);
      if (!key) {
        throw new UsageError(
          `--recipients: no key with fingerprint ${fpr} in the config's encryption entries; give its public key file instead`,
        );
      }
      keys.push(key);
    }
  }
  const unique = keys.filter((k, i) => keys.findIndex((o) => fingerprintOf(o) === fingerprintOf(k)) === i);
  return { keys: unique, fingerprints: unique.map(fingerprintOf) };
}

/** What to encrypt to: `--recipients`, else the job's encryption as the config says now. */
async function targetEncryption(loaded: LoadedConfig, ctx: JobContext, flags: Flags, io: Io, out: Output) {
  const configured = await resolveEncryption(loaded, ctx.job, { env: io.env });
  if (flags.recipients?.length) {
    const recipients = await recipientsFlag(loaded, flags.recipients);
    const same =
      configured?.type === 'openpgp' &&
      configured.recipients.fingerprints.length === recipients.fingerprints.length &&
      recipients.fingerprints.every((f) => configured.recipients.fingerprints.includes(f));
    if (!same) {
      out.warn(
        `--recipients differ from what jobs[${jobIndex(loaded, ctx.job)}].encryption says: new backups of ${ctx.job.name} still go to the config's keys until the config names these`,
      );
    }
    return { type: 'openpgp', recipients } satisfies EncryptionSpec;
  }
  if (!configured) {
    throw new UsageError(
      `job ${ctx.job.name} has no "encryption" in the config: name the keys to encrypt to there (or with --recipients <public-key-file>)`,
    );
  }
  return configured;
}

/** Keys that decrypt the new objects, for verifying them: `--verify-key`, or the new passphrase. */
async function verifyKeysFor(
  target: EncryptionSpec,
  flags: Flags,
  io: Io,
  readKeys: DecryptKeys | undefined,
): Promise<DecryptKeys | undefined> {
  if (target.type === 'passphrase') return { passphrase: target.passphrase };
  const file = flags['verify-key'];
  const candidates = file
    ? [await readPrivateKey(path.resolve(file), io.env.DUMPVAULT_KEY_PASSPHRASE)]
    : (readKeys?.privateKeys ?? []);
  const usable = candidates.filter((k) => target.recipients.fingerprints.includes(fingerprintOf(k)));
  if (file && usable.length === 0) {
    throw new UsageError(
      `--verify-key ${file} is not the private key of any new recipient (${target.recipients.fingerprints.join(', ')})`,
    );
  }
  return usable.length ? { privateKeys: usable } : undefined;
}

/** The keys that read the backups as they are now, the old passphrase included. */
async function readingKeys(loaded: LoadedConfig, ctx: JobContext, flags: Flags, io: Io) {
  const keys = await resolveDecryptKeys(loaded, ctx.job, flags.key, { env: io.env });
  const old = io.env.DUMPVAULT_OLD_PASSPHRASE;
  if (!old) return keys;
  registerSecret(old);
  return { ...keys, passphrase: old };
}

function printResult(out: Output, result: RekeyResult, dryRun: boolean): void {
  if (out.isJson) {
    out.result({ status: dryRun ? 'DRY-RUN' : 'SUCCEEDED', ...result });
    return;
  }
  const to = result.recipients.length ? result.recipients.join(', ') : 'the passphrase';
  if (dryRun) {
    const todo = result.plan.filter((p) => p.action === 'rekey');
    out.line(`plan (dry run): ${todo.length} of ${result.plan.length} cop(ies) to re-encrypt to ${to}`);
    for (const p of result.plan)
      out.line(
        `  ${p.action === 'rekey' ? 'rekey  ' : 'current'} ${p.destination.padEnd(12)} ${p.id}  (${p.encryptedTo})`,
      );
    out.line('  nothing was written');
    return;
  }
  for (const c of result.copies)
    out.line(
      `  ${c.destination.padEnd(12)} ${c.id}  ${c.to} (${formatBytes(c.bytes)}, verified: ${c.verified === 'decrypted' ? 'decrypted with the new key' : 'size and sha256 re-read'})`,
    );
  const current = result.plan.filter((p) => p.action === 'current').length;
  out.line(
    `SUCCEEDED re-encrypted ${result.copies.length} cop(ies) to ${to}${current ? `; ${current} already were` : ''} in ${formatDuration(result.durationMs)} (run ${result.runId})`,
  );
  for (const k of result.keptLocked) out.warn(`kept ${k}: still readable with the old key until then`);
  if (result.copies.some((c) => c.verified === 'sha256'))
    out.warn(
      'the new objects were checked by size and sha256 only: give --verify-key <new-private.asc> to have them decrypted before the old ones go',
    );
}

/** `dumpvault rekey <job> …`; see the module comment. */
export async function rekeyCommand(
  job: string | undefined,
  flags: Flags,
  out: Output,
  io: Io,
): Promise<number> {
  const { loaded, ctx } = await openJob(job, flags, io, {
    forReading: true,
    offline: true,
    progress: out.progress,
  });
  const destinations = readableDestinations(ctx, flags);
  const keys = await readingKeys(loaded, ctx, flags, io);
  const encryption = await targetEncryption(loaded, ctx, flags, io, out);
  const target: RekeyTarget = {
    encryption,
    ...(await verifyKeysFor(encryption, flags, io, keys).then((v) => (v ? { verifyKeys: v } : {}))),
  };
  const dryRun = Boolean(flags['dry-run']);
  if (!out.isJson) out.line(`${dryRun ? 'rekey (dry run)' : 'rekey'} ${ctx.job.name}`);
  const result = await withInterrupts(io.interrupts, ctx, (run) =>
    runRekey(run, {
      keys,
      target,
      destinations,
      dryRun,
      ...(flags.backup !== undefined ? { backup: flags.backup } : {}),
    }),
  );
  printResult(out, result, dryRun);
  return 0;
}
