/**
 * Streaming OpenPGP encryption as a pipeline stage. The output is a binary OpenPGP message
 * GnuPG 2.2 decrypts: PKESK v3 and/or SKESK v4, then one SEIPD v1 packet (with MDC) holding an
 * uncompressed literal data packet, both written with partial body lengths as data arrives.
 * openpgp.js chooses the session key and writes the key packets; the SEIPD packet is written
 * with node:crypto (seipd.ts) when the session key is AES, which it is unless a recipient's key
 * refuses every AES cipher (then openpgp.js writes the whole message).
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { createMessage, encrypt, encryptSessionKey, generateSessionKey, type SessionKey } from 'openpgp';
import { CryptoError, ExitCode, messageOf } from '../errors.ts';
import { generatorStage } from '../streams/generator-stage.ts';
import { coalesceChunks } from '../streams/stages.ts';
import { fromWebStream, toWebStream } from '../streams/web-streams.ts';
import { GNUPG22_COMPATIBLE } from './config.ts';
import type { Recipients } from './keys.ts';
import { nativeSeipdSupports, seipdV1 } from './seipd.ts';

/** Chunk size of the input openpgp.js encrypts (its fallback for ciphers other than AES). */
const OPENPGP_JS_CHUNK_BYTES = 512 * 1024;

/** What to encrypt to: recipients' public keys, a passphrase, or both (either then decrypts). */
export interface EncryptOptions {
  readonly recipients?: Recipients;
  readonly passphrase?: string;
}

/**
 * The session key, chosen here rather than by openpgp.js: openpgp.js v6 switches to SEIPDv2
 * (AEAD, which GnuPG 2.2 cannot read) whenever every recipient key advertises the SEIPDv2
 * feature, whatever `aeadProtect` says. A session key without `aeadAlgorithm` forces SEIPD v1.
 */
async function sessionKeyFor(options: EncryptOptions): Promise<SessionKey> {
  const keys = options.recipients?.keys ?? [];
  if (keys.length === 0) return { data: new Uint8Array(randomBytes(32)), algorithm: 'aes256' };
  // Respects the recipients' cipher preferences (AES-256 when they all allow it).
  const chosen = await generateSessionKey({ encryptionKeys: [...keys], config: GNUPG22_COMPATIBLE });
  return { data: chosen.data, algorithm: chosen.algorithm };
}

/**
 * A pipeline stage that encrypts its input into a binary OpenPGP message, chunk by chunk (the
 * message is never buffered). Throws a CryptoError (exit code 2) at once when neither
 * recipients nor a passphrase are given. If the input fails, the stage fails with the input's
 * error, not openpgp.js's.
 */
export function encryptStage(options: EncryptOptions): Duplex {
  const keys = options.recipients?.keys ?? [];
  const passphrase = options.passphrase;
  if (keys.length === 0 && !passphrase) {
    throw new CryptoError('encryption needs at least one recipient public key or a non-empty passphrase', {
      exitCode: ExitCode.usage,
    });
  }
  return generatorStage(async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    const sessionKey = await sessionKeyFor(options);
    if (nativeSeipdSupports(sessionKey.algorithm)) {
      let keyPackets: Uint8Array;
      try {
        keyPackets = await encryptSessionKey({
          data: sessionKey.data,
          algorithm: sessionKey.algorithm,
          ...(keys.length ? { encryptionKeys: [...keys] } : {}),
          ...(passphrase ? { passwords: [passphrase] } : {}),
          format: 'binary',
          config: GNUPG22_COMPATIBLE,
        });
      } catch (err) {
        throw new CryptoError(`OpenPGP encryption failed: ${messageOf(err)}`, { cause: err });
      }
      yield Buffer.from(keyPackets.buffer, keyPackets.byteOffset, keyPackets.byteLength);
      // A failure of the source surfaces here unchanged (it is read directly).
      yield* seipdV1(source, sessionKey);
      return;
    }
    // openpgp.js pays per chunk in its Web Streams: it gets them joined (see coalesceChunks).
    const input = toWebStream(coalesceChunks(source, OPENPGP_JS_CHUNK_BYTES)[Symbol.asyncIterator]());
    try {
      const message = await createMessage({ binary: input.stream, format: 'binary' });
      const encrypted = (await encrypt({
        message,
        ...(keys.length ? { encryptionKeys: [...keys] } : {}),
        ...(passphrase ? { passwords: [passphrase] } : {}),
        sessionKey,
        format: 'binary',
        config: GNUPG22_COMPATIBLE,
      })) as unknown as ReadableStream<Uint8Array>;
      yield* fromWebStream(encrypted);
    } catch (err) {
      const sourceFailure = input.failure();
      if (sourceFailure !== undefined) throw sourceFailure;
      throw new CryptoError(`OpenPGP encryption failed: ${messageOf(err)}`, { cause: err });
    }
  });
}
