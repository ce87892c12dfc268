/**
 * Streaming OpenPGP decryption as a pipeline stage.
 *
 * Plaintext is released as it is decrypted (`allowUnauthenticatedStream`), so a 100 GB object
 * is never buffered; the price is that integrity is known only at the end: a modified or
 * truncated message makes the stage fail after its last chunk, and whatever consumed the
 * plaintext must then treat everything it wrote as void. Before any plaintext is released the
 * stage checks that the key or passphrase is right (PKESK key ids, session-key decryption and
 * the SEIPD quick check), so a wrong key or passphrase fails at once with one sentence.
 */
import type { Duplex } from 'node:stream';
import {
  decrypt,
  decryptSessionKeys,
  enums,
  type Message,
  type PrivateKey,
  readMessage,
  type SessionKey,
} from 'openpgp';
import { CryptoError, IntegrityError, messageOf } from '../errors.ts';
import { detectFormat } from '../formats/detect.ts';
import { generatorStage } from '../streams/generator-stage.ts';
import { fromWebStream, toWebStream } from '../streams/web-streams.ts';
import { STREAMING_DECRYPT } from './config.ts';
import { fingerprintOf } from './keys.ts';
import { quickCheck, seipdV1Offset } from './packets.ts';
import { openSeipdV1, opensNatively, SeipdError } from './seipd.ts';

/** What to decrypt with: private keys (already decrypted, see readPrivateKey), a passphrase, or both. */
export interface DecryptOptions {
  readonly privateKeys?: readonly PrivateKey[];
  readonly passphrase?: string;
  /**
   * How long decryption may neither produce output nor read input before it counts as stuck.
   * openpgp.js's streaming parser can wait forever on some corrupted inner packet headers (an
   * inner literal-data length garbled by a flipped bit); this turns that into an IntegrityError
   * instead of a restore that never ends. @default 10 s
   */
  readonly stallMs?: number;
}

const STALL_MS = 10_000;

/** Bytes read before decrypting: enough for the session-key packets of many recipients. */
const HEAD_BYTES = 64 * 1024;

const WILDCARD_KEY_ID = '0000000000000000';

async function readHead(iterator: AsyncIterator<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  while (length < HEAD_BYTES) {
    const next = await iterator.next();
    if (next.done) break;
    const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    chunks.push(chunk);
    length += chunk.length;
  }
  return Buffer.concat(chunks, length);
}

function notOpenPgp(head: Buffer): IntegrityError {
  if (head.length === 0) return new IntegrityError('the object is empty, so it is not an OpenPGP message');
  const format = detectFormat(head);
  const looks =
    format === 'unknown'
      ? ''
      : ` (it looks like ${format === 'pgdump-custom' ? 'a pg_dump archive' : `${format} data`}, stored unencrypted)`;
  return new IntegrityError(`the object is not an OpenPGP message${looks}`);
}

/** A message as far as its key packets go: all that choosing and decrypting the session key reads. */
type KeyPackets = Message<ReadableStream<Uint8Array>> | Message<Uint8Array>;

const upper = (ids: readonly string[]): string => ids.map((id) => id.toUpperCase()).join(', ');

/** How the session key will be recovered: openpgp.js tries passwords *or* keys, never both. */
type Unlock =
  | { readonly by: 'passphrase'; readonly passphrase: string }
  | { readonly by: 'keys'; readonly keys: PrivateKey[] };

/**
 * Chooses between the passphrase and the private keys for this message, failing with one
 * sentence when neither can be for it (wrong key, passphrase given for a key-encrypted object…).
 */
function chooseUnlock(message: KeyPackets, options: DecryptOptions): Unlock {
  const keys = [...(options.privateKeys ?? [])];
  const recipientIds = message.getEncryptionKeyIDs().map((id) => id.toHex());
  const hasPassphrasePacket = message.packets.filterByTag(enums.packet.symEncryptedSessionKey).length > 0;
  if (options.passphrase && hasPassphrasePacket) return { by: 'passphrase', passphrase: options.passphrase };
  if (keys.length === 0) {
    throw new CryptoError(
      `the object is encrypted to key id ${upper(recipientIds)}, not with a passphrase; give the private key instead`,
    );
  }
  if (recipientIds.length === 0) {
    throw new CryptoError(
      'the object is encrypted with a passphrase, not to a key; give the passphrase instead',
    );
  }
  if (recipientIds.includes(WILDCARD_KEY_ID)) return { by: 'keys', keys }; // gpg --throw-keyids: try every key
  const ours = new Set(keys.flatMap((key) => key.getKeyIDs().map((id) => id.toHex())));
  if (!recipientIds.some((id) => ours.has(id))) {
    throw new CryptoError(
      `the object is not encrypted to key ${keys.map(fingerprintOf).join(', ')}; it is encrypted to key id ${upper(recipientIds)}`,
    );
  }
  return { by: 'keys', keys };
}

/**
 * The session key, checked against the ciphertext (quick check) before any plaintext is released.
 * `doubt` says why a passphrase's key could not be checked: a passphrase packet (SKESK v4) has
 * no integrity check of its own, so a wrong passphrase yields a random key, and about once in
 * 300 tries a random key whose cipher (Twofish, or an old cipher OpenSSL lacks) names a
 * plausible algorithm that the quick check cannot test. Decrypting with it then fails like a
 * damaged object; the error must still say the passphrase may be wrong.
 */
async function findSessionKey(
  message: KeyPackets,
  unlock: Unlock,
  head: Buffer,
): Promise<{ sessionKey: SessionKey; doubt?: string }> {
  const wrong = (cause?: unknown): CryptoError =>
    unlock.by === 'passphrase'
      ? new CryptoError('wrong passphrase: it does not decrypt this object', { cause })
      : new CryptoError(
          `the private key ${unlock.keys.map(fingerprintOf).join(', ')} does not decrypt this object${cause ? ` (${messageOf(cause)})` : ''}`,
          { cause },
        );
  let candidates: Awaited<ReturnType<typeof decryptSessionKeys>>;
  try {
    candidates = await decryptSessionKeys({
      message,
      ...(unlock.by === 'passphrase' ? { passwords: [unlock.passphrase] } : { decryptionKeys: unlock.keys }),
    });
  } catch (err) {
    throw wrong(err);
  }
  const checked = candidates.map((key) => ({
    key,
    check: key.algorithm === null ? false : quickCheck(key, head),
  }));
  const chosen = checked.find((c) => c.check === true) ?? checked.find((c) => c.check === undefined);
  if (!chosen?.key.algorithm) throw wrong();
  const sessionKey = { data: chosen.key.data, algorithm: chosen.key.algorithm };
  if (chosen.check === true || unlock.by !== 'passphrase') return { sessionKey };
  return {
    sessionKey,
    doubt: `the passphrase gives a ${chosen.key.algorithm} key, which cannot be checked before decrypting`,
  };
}

/** A decryption failure after an unchecked passphrase key: a wrong passphrase looks the same. */
function wrongOrCorrupted(err: unknown, doubt: string): CryptoError {
  return new CryptoError(
    `wrong passphrase, or the object is damaged (${doubt}; decrypting with it failed: ${messageOf(err)}); everything decrypted from it must be discarded`,
    { cause: err },
  );
}

function corrupted(err: unknown): IntegrityError {
  const text = messageOf(err);
  if (/Modification detected/i.test(text)) {
    return new IntegrityError(
      'the encrypted object was modified or truncated: its OpenPGP integrity check (MDC) failed at the end, so everything decrypted from it must be discarded',
      { cause: err },
    );
  }
  return new IntegrityError(
    `the encrypted object is corrupted or truncated (${text}); everything decrypted from it must be discarded`,
    { cause: err },
  );
}

/**
 * A pipeline stage that decrypts a binary OpenPGP message (from dumpvault or from
 * `gpg --encrypt` / `gpg --symmetric`, compressed by gpg or not) and yields its literal data.
 * Fails with a CryptoError for a wrong key or passphrase (before any output), and with an
 * IntegrityError for input that is not an OpenPGP message, or that was modified or truncated
 * (at the end of the stream: the MDC covers the whole message).
 */
export function decryptStage(options: DecryptOptions): Duplex {
  if (!options.privateKeys?.length && !options.passphrase) {
    throw new CryptoError('decryption needs a private key or a passphrase');
  }
  return generatorStage(async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    const iterator = source[Symbol.asyncIterator]();
    const head = await readHead(iterator);
    if (detectFormat(head) !== 'openpgp') throw notOpenPgp(head);
    if (head.subarray(0, 5).toString('latin1') === '-----') {
      throw new IntegrityError(
        'the object is an ASCII-armored OpenPGP message; dearmor it first (gpg --dearmor) or decrypt it with gpg',
      );
    }
    // The key packets are read by openpgp.js; the SEIPD packet after them, when it holds a
    // literal data packet under an AES key (what dumpvault and `gpg --compress-algo none`
    // write), is decrypted with node:crypto (seipd.ts), else by openpgp.js.
    let sessionKey: SessionKey | undefined;
    let doubt: string | undefined;
    const offset = seipdV1Offset(head);
    if (offset !== undefined) {
      const keyPackets = await readMessage({ binaryMessage: head.subarray(0, offset) }).catch(
        () => undefined,
      );
      if (keyPackets) {
        ({ sessionKey, doubt } = await findSessionKey(keyPackets, chooseUnlock(keyPackets, options), head));
        if (opensNatively(head.subarray(offset), sessionKey as { data: Uint8Array; algorithm: string })) {
          try {
            yield* openSeipdV1(
              head.subarray(offset),
              iterator,
              sessionKey as { data: Uint8Array; algorithm: string },
            );
          } catch (err) {
            throw err instanceof SeipdError ? corrupted(err) : err;
          }
          return;
        }
      }
    }
    const input = toWebStream(iterator, head);
    let message: Message<ReadableStream<Uint8Array>>;
    try {
      message = await readMessage({ binaryMessage: input.stream });
    } catch (err) {
      throw (
        input.failure() ??
        new IntegrityError(`the object is not a readable OpenPGP message (${messageOf(err)})`, { cause: err })
      );
    }
    if (message.packets.filterByTag(enums.packet.symmetricallyEncryptedData).length > 0) {
      throw new IntegrityError(
        'the object uses OpenPGP encryption without integrity protection (no MDC), which cannot be trusted; decrypt it with gpg --ignore-mdc-error only if you know where it came from',
      );
    }
    if (!sessionKey)
      ({ sessionKey, doubt } = await findSessionKey(message, chooseUnlock(message, options), head));
    const failed = (err: unknown): Error => (doubt ? wrongOrCorrupted(err, doubt) : corrupted(err));
    let plaintext: ReadableStream<Uint8Array>;
    try {
      const result = await decrypt({
        message,
        sessionKeys: [sessionKey],
        format: 'binary',
        config: STREAMING_DECRYPT,
      });
      plaintext = result.data as unknown as ReadableStream<Uint8Array>;
    } catch (err) {
      throw input.failure() ?? failed(err);
    }
    const stallMs = options.stallMs ?? STALL_MS;
    try {
      yield* fromWebStream(plaintext, {
        inputIdleMs: input.idleMs,
        ms: stallMs,
        error: () =>
          failed(new Error(`decryption stalled: no output and no input read for ${stallMs / 1000} s`)),
      });
    } catch (err) {
      if (err instanceof IntegrityError || err instanceof CryptoError) throw err;
      throw input.failure() ?? failed(err);
    }
  });
}
