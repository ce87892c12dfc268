/**
 * The openpgp.js settings that keep dumpvault's messages readable by GnuPG 2.2 (DESIGN.md §4:
 * `gpg --decrypt f.gz.gpg | gunzip | pg_restore` must work without dumpvault).
 */
import { enums, type PartialConfig } from 'openpgp';

/**
 * Passed to every openpgp.js call that writes keys or messages.
 *
 * - `aeadProtect: false`: no SEIPDv2/AEAD packets (GnuPG 2.2 cannot read them); messages are
 *   SEIPD v1 with an MDC. Encryption also strips any AEAD algorithm from the session key
 *   because openpgp.js chooses SEIPDv2 from the *recipients'* feature flags regardless of
 *   this setting (see encrypt.ts).
 * - `v6Keys: false`: generated keys are v4.
 * - `preferredCompressionAlgorithm: uncompressed`: dumpvault compresses before encrypting;
 *   a second compression layer would only cost CPU.
 * - `preferredSymmetricAlgorithm: aes256`, `s2kType: iterated`: understood by GnuPG 2.2
 *   (Argon2 S2K is not).
 */
export const GNUPG22_COMPATIBLE: PartialConfig = {
  aeadProtect: false,
  v6Keys: false,
  preferredCompressionAlgorithm: enums.compression.uncompressed,
  preferredSymmetricAlgorithm: enums.symmetric.aes256,
  s2kType: enums.s2k.iterated,
};

/**
 * Passed to openpgp.js when decrypting. `allowUnauthenticatedStream` makes openpgp.js release
 * plaintext as it is decrypted instead of buffering the whole message until the MDC at its end
 * has been checked; the MDC is still checked, and a mismatch errors the stream at its end.
 */
export const STREAMING_DECRYPT: PartialConfig = {
  allowUnauthenticatedStream: true,
};
