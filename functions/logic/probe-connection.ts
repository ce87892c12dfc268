import { messageOf } from '../../core/errors.ts';
import { redact, registerSecret } from '../../core/redact.ts';
import { RestoreInputError, TargetUnreachableError } from './restore-contract.ts';
import type { ProbeTarget } from './target-inventory.ts';

/** What went wrong in a driver call, in one line; AggregateErrors (every address refused) included. */
export function reasonOf(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length) {
    return [...new Set(err.errors.map(reasonOf))].join('; ');
  }
  const code = (err as { code?: unknown }).code;
  const message = messageOf(err).split('\n')[0]?.trim() ?? '';
  if (!message) return typeof code === 'string' ? code : 'unknown error';
  return message;
}

/** The target did not answer, or refused the login. */
export function unreachable(where: string, err: unknown): TargetUnreachableError {
  return new TargetUnreachableError(
    redact(
      `cannot connect to the target ${where}: ${reasonOf(err)}; check the URL and its password secret, and that the database accepts connections from the deployment's task security group`,
    ),
    { cause: err },
  );
}

/** The target answered but its catalog query failed. */
export function unreadable(where: string, err: unknown): TargetUnreachableError {
  return new TargetUnreachableError(
    redact(`cannot read the catalog of the target ${where}: ${reasonOf(err)}`),
    { cause: err },
  );
}

/**
 * Connects with the first settings that work: the next ones are tried only when `fallBack`
 * says the failure was about them (a server without TLS, for instance), not about the target.
 */
export async function connectFirst<S, C>(
  attempts: readonly S[],
  connect: (settings: S) => Promise<C>,
  fallBack: (err: unknown) => boolean,
): Promise<C> {
  let last: unknown;
  for (const [i, settings] of attempts.entries()) {
    try {
      return await connect(settings);
    } catch (err) {
      last = err;
      if (i === attempts.length - 1 || !fallBack(err)) throw err;
    }
  }
  throw last;
}

/** The target URL, or a RestoreInputError showing `example`. */
export function parseUrl(url: string, example: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new RestoreInputError(`target.url: expected a URL like ${example}, got ${redact(url)}`);
  }
}

/** The database named in the URL path, or a RestoreInputError showing `example`. */
export function databaseOf(url: URL, example: string): string {
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database) {
    throw new RestoreInputError(
      `target.url: add the database name, like ${example} (got ${redact(url.href)})`,
    );
  }
  return database;
}

/** `db.internal:5432`, `[::1]:5432`. */
export const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

/**
 * The parts of a target URL every SQL probe needs: the database, the URL as it may be shown,
 * and host/port/user/password as driver options (the password never goes into a URL).
 */
export function connectionParts(target: ProbeTarget, example: string, defaultPort: number) {
  const url = parseUrl(target.url, example);
  const database = databaseOf(url, example);
  registerSecret(target.password);
  const user = decodeURIComponent(url.username);
  return {
    url,
    database,
    where: redact(target.url),
    login: {
      host: hostOf(url),
      port: Number(url.port || defaultPort),
      ...(user ? { user } : {}),
      ...(target.password !== undefined ? { password: target.password } : {}),
    },
  };
}
