/**
 * Secret scrubbing. Every secret value dumpvault resolves (passwords, passphrases, S3 keys)
 * is registered here the moment it is read, and everything that leaves the process (logs,
 * history, alerts, error messages, manifests) passes through {@link redact}.
 */

const secrets = new Set<string>();

/** Registers a secret value so that {@link redact} removes it from any text. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 3) secrets.add(value);
}

/** Forgets every registered secret (tests only). */
export function clearSecrets(): void {
  secrets.clear();
}

const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)([^@/\s]+)@/gi;
// `PGPASSWORD=x`, `MYSQL_PWD=x`, `password=x` (connection strings); not `passwordEnv: NAME` in messages.
const ENV_ASSIGNMENT = /\b([A-Z_]*(?:PASSWORD|PASSWD|PWD|PASSPHRASE|SECRET)[A-Z_]*)=("[^"]*"|'[^']*'|\S+)/g;
const KEY_VALUE = /\b(password|passwd|passphrase)=("[^"]*"|'[^']*'|[^\s&;]+)/gi;

/** Removes registered secrets, URL passwords and `PGPASSWORD=…` / `password=…` assignments from a text. */
export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('***');
  out = out.replace(URL_PASSWORD, '$1***@');
  out = out.replace(ENV_ASSIGNMENT, '$1=***');
  out = out.replace(KEY_VALUE, '$1=***');
  return out;
}

/** A URL as it may be shown: any password replaced by `***`. */
export function redactUrl(url: string): string {
  return redact(url);
}
