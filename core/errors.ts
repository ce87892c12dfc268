/**
 * Error kinds shared by every layer.
 *
 * A {@link UserError} is something the operator can fix (bad config, unknown job, wrong key,
 * tampered object): the CLI prints its message as one sentence, without a stack trace.
 * Anything else that escapes is a bug and is printed with its stack.
 */

/** Exit codes of the CLI and the task: 0 success, 1 the operation failed, 2 usage or configuration. */
export const ExitCode = { ok: 0, failed: 1, usage: 2 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Base class of every error dumpvault raises on purpose. */
export class DumpvaultError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DumpvaultError';
  }
}

/** A failure the user can act on; `exitCode` says whether it is usage (2) or an operation failure (1). */
export class UserError extends DumpvaultError {
  readonly exitCode: ExitCode;
  constructor(message: string, options?: { cause?: unknown; exitCode?: ExitCode }) {
    super(message, options);
    this.name = 'UserError';
    this.exitCode = options?.exitCode ?? ExitCode.failed;
  }
}

/** The configuration file (or the typed config object) is invalid. */
export class ConfigError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, exitCode: ExitCode.usage });
    this.name = 'ConfigError';
  }
}

/** The command line is wrong: unknown command, job, option or malformed argument. */
export class UsageError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, exitCode: ExitCode.usage });
    this.name = 'UsageError';
  }
}

/** A dump or restore tool exited non-zero, was killed, or produced nothing. */
export class ToolError extends UserError {
  /** The signal that killed the tool, when it was killed. */
  readonly signal: NodeJS.Signals | undefined;
  constructor(message: string, options?: { cause?: unknown; signal?: NodeJS.Signals | null }) {
    super(message, options);
    this.name = 'ToolError';
    this.signal = options?.signal ?? undefined;
  }
}

/**
 * The signal that killed the tool behind `err` (looked for along its causes, which hints wrap),
 * or undefined when no tool was killed: a run stopped by a signal sent to its whole process
 * group sees its tools die of the same signal, and that death is not the cause.
 */
export function killedBy(err: unknown): NodeJS.Signals | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof ToolError && e.signal) return e.signal;
  }
  return undefined;
}

/**
 * The source database's user cannot read everything a dump must contain, so the dump would be
 * incomplete. `problems` holds one sentence per kind of object, each naming the grant to add.
 */
export class SourceAccessError extends UserError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join(' '));
    this.name = 'SourceAccessError';
    this.problems = problems;
  }
}

/** A stored object is missing, truncated, tampered with, or not a dumpvault object. */
export class IntegrityError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IntegrityError';
  }
}

/** Encryption or decryption failed: unreadable key, wrong key, wrong passphrase. */
export class CryptoError extends UserError {
  constructor(message: string, options?: { cause?: unknown; exitCode?: ExitCode }) {
    super(message, options);
    this.name = 'CryptoError';
  }
}

/** A destination refused or lost a request (credentials, network, bucket missing). */
export class StorageError extends UserError {
  /** True when retrying cannot help (403, 404 bucket, bad credentials). */
  readonly permanent: boolean;
  constructor(message: string, options?: { cause?: unknown; permanent?: boolean }) {
    super(message, options);
    this.name = 'StorageError';
    this.permanent = options?.permanent ?? false;
  }
}

/** An object or backup that was asked for does not exist. */
export class NotFoundError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NotFoundError';
  }
}

/** Another run of the same job holds the lease. */
export class LeaseHeldError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LeaseHeldError';
  }
}

/** True when `err` is a {@link NotFoundError}. */
export function isNotFound(err: unknown): err is NotFoundError {
  return err instanceof NotFoundError;
}

/** The message of any thrown value, for one-line causes in history and alerts. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
