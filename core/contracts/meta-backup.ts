/**
 * The meta-backup contract (DESIGN.md §3, §4; issue 16 §1): where dumpvault keeps its own
 * configuration in every destination, how many copies it keeps, and the environment variables
 * `recover` reads. The object is a standard OpenPGP message (`gpg -d` decrypts it) holding one
 * JSON document ({@link MetaDocument} in core/meta/document.ts).
 */

/** The folder, under the config `prefix`, that holds the meta-backups (no job may be named so). */
export const META_FOLDER = '_dumpvault/';

/** Every meta-backup object starts with this, after `{prefix}_dumpvault/`. */
export const META_OBJECT_PREFIX = 'config-';
/** …and ends with this. */
export const META_OBJECT_SUFFIX = '.json.gpg';

/** How many meta-backups each destination keeps; older ones are deleted after a newer one is written. */
export const META_BACKUPS_KEPT = 10;

/** Where `recover` reads the meta passphrase when the config used `metaBackup.passphraseEnv`/`passphraseSecret`. */
export const META_PASSPHRASE_ENV = 'DUMPVAULT_META_PASSPHRASE';

/** The key of the meta-backup written at `stamp` (`2026-12-02T150724Z`). */
export function metaObjectKey(prefix: string, stamp: string): string {
  return `${prefix}${META_FOLDER}${META_OBJECT_PREFIX}${stamp}${META_OBJECT_SUFFIX}`;
}

/** Whether `key` (relative to the folder `{prefix}_dumpvault/`) names a meta-backup. */
export function isMetaObjectName(name: string): boolean {
  return /^config-\d{4}-\d{2}-\d{2}T\d{6}Z\.json\.gpg$/.test(name);
}
