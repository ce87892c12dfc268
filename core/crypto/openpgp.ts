/**
 * dumpvault's OpenPGP layer (openpgp.js v6), the one import for the rest of the code base:
 * recipients and private keys, key generation, and streaming encrypt/decrypt pipeline stages
 * whose messages GnuPG 2.2 reads and writes (DESIGN.md §4).
 */
export type { PrivateKey, PublicKey } from 'openpgp';
export { GNUPG22_COMPATIBLE, STREAMING_DECRYPT } from './config.ts';
export { type DecryptOptions, decryptStage } from './decrypt.ts';
export { type EncryptOptions, encryptStage } from './encrypt.ts';
export {
  fingerprintOf,
  fingerprintsOf,
  type GeneratedKeyPair,
  generateKeyPair,
  loadRecipients,
  type Recipients,
  readPrivateKey,
} from './keys.ts';
