/**
 * Secret scrubbing, the last line of defence. The first is that secrets never go into text at
 * all: passwords travel in a child's environment or a 0600 file, never on a command line or in
 * a URL dumpvault prints, and messages name the variable or ARN a secret came from, not its
 * value. Every secret value dumpvault resolves is still registered here, and everything that
 * leaves the process (logs, history, alerts, error messages) passes through {@link redact}.
 *
 * What is masked, and why not everything registered:
 * - anywhere: a registered secret that is distinctive — at least 8 characters, mixing at least
 *   two of letters, digits and other characters (`hunter2hunter2`, `correct horse battery`,
 *   an AWS secret key). Such a string does not occur in normal output by chance.
 * - only where a secret stands: a URL's password (`postgres://app:…@db`), `PGPASSWORD=…` /
 *   `MYSQL_PWD=…` assignments, `password=…` in connection strings — whatever the value.
 * A registered secret that is a plain word or number (`postgres`, `changeme`, `12345678`) is not
 *   masked everywhere: it is made of what normal output is made of, and masking it turned
 *   `postgres 15.2` into `*** 15.2` and `postgres://postgres@db/app` into `***://***@db/app`
 *   (a database user, engine and server version are exactly such words). Where it would stand
 *   as a secret, the context rules above still mask it.
 */

const secrets = new Set<string>();

/**
 * True when `value` is unlikely to occur in normal output unless it was leaked: long enough,
 * and not a plain word or number (see the module comment).
 */
export function isDistinctive(value: string): boolean {
  if (value.length < 8) return false;
  const classes = [/\p{L}/u, /\p{N}/u, /[^\p{L}\p{N}]/u].filter((re) => re.test(value)).length;
  return classes >= 2;
}

/** Registers a secret value so that {@link redact} removes it from any text it is distinctive in. */
export function registerSecret(value: string | undefined): void {
  if (value && isDistinctive(value)) secrets.add(value);
}

/** Forgets every registered secret (tests only). */
export function clearSecrets(): void {
  secrets.clear();
}

const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)([^@/\s]+)@/gi;
// `PGPASSWORD=x`, `MYSQL_PWD=x`, `password=x` (connection strings); not `passwordEnv: NAME` in messages.
const ENV_ASSIGNMENT = /\b([A-Z_]*(?:PASSWORD|PASSWD|PWD|PASSPHRASE|SECRET)[A-Z_]*)=("[^"]*"|'[^']*'|\S+)/g;
const KEY_VALUE = /\b(\w*(?:password|passwd|passphrase))=("[^"]*"|'[^']*'|[^\s&;]+)/gi;

/** Removes distinctive registered secrets, URL passwords and `PGPASSWORD=…` / `password=…` assignments from a text. */
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
