/**
 * The read side of the pipeline: stored bytes ─> decrypt ─> decompress ─> raw dump. Shared by
 * verify (which discards the output) and restore (which feeds it to the engine's tool).
 */
import { pipeline as chain, type Readable } from 'node:stream';
import type { PrivateKey } from 'openpgp';
import { decryptStage } from '../crypto/openpgp.ts';
import { CryptoError, ExitCode } from '../errors.ts';
import { detectFormat } from '../formats/detect.ts';
import type { Manifest } from '../manifest.ts';
import { peek } from '../streams/peek.ts';
import { asDuplex, type Stage } from '../streams/stages.ts';
import { decompressStage } from './compress.ts';

/** Keys for reading encrypted backups: private keys (openpgp) or the passphrase. */
export interface DecryptKeys {
  readonly privateKeys?: PrivateKey[];
  readonly passphrase?: string;
}

/** Throws a usage error when an encrypted backup is to be read without the means to decrypt it. */
export function requireKeysFor(manifest: Manifest, keys: DecryptKeys | undefined, id: string): void {
  if (manifest.encryption.type === 'openpgp' && !keys?.privateKeys?.length) {
    throw new CryptoError(
      `backup ${id} is encrypted to ${manifest.encryption.recipients.join(', ')}: pass --key <private-key.asc> (or set DUMPVAULT_PRIVATE_KEY)`,
      { exitCode: ExitCode.usage },
    );
  }
  if (manifest.encryption.type === 'passphrase' && !keys?.passphrase) {
    throw new CryptoError(
      `backup ${id} is encrypted with a passphrase: set the job's passphraseEnv variable (or DUMPVAULT_PASSPHRASE)`,
      { exitCode: ExitCode.usage },
    );
  }
}

/** The stages that turn a stored object described by `manifest` back into the raw dump. */
export function decodeStages(
  manifest: Pick<Manifest, 'encryption' | 'compression'>,
  keys: DecryptKeys | undefined,
) {
  return [...decryptStages(manifest, keys), asDuplex(decompressStage(manifest.compression))];
}

/** The stages that turn a stored object back into the compressed dump: decryption, if any. */
export function decryptStages(manifest: Pick<Manifest, 'encryption'>, keys: DecryptKeys | undefined) {
  const stages: Stage[] = [];
  if (manifest.encryption.type !== 'none') stages.push(decryptStage(keys ?? {}));
  return stages.map(asDuplex);
}

/**
 * A foreign file (no manifest, e.g. made by `pg_dump -Fc | gzip | gpg -e`): peels the layers
 * it recognises by their magic bytes and returns the raw dump stream plus what it found.
 */
export async function openForeign(
  input: Readable,
  keys: DecryptKeys | undefined,
): Promise<{ raw: Readable; layers: string[] }> {
  const layers: string[] = [];
  let stream: Readable = input;
  for (let depth = 0; depth < 3; depth++) {
    const format = detectFormat(await peek(stream));
    if (format === 'openpgp') {
      layers.push('openpgp');
      stream = chain(stream, asDuplex(decryptStage(keys ?? {})), () => {});
    } else if (format === 'gzip' || format === 'zstd') {
      layers.push(format);
      stream = chain(stream, asDuplex(decompressStage(format)), () => {});
    } else break;
  }
  return { raw: stream, layers };
}
