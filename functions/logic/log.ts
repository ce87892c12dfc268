/**
 * The narrow logging surface the business logic needs. The Powertools `Logger` satisfies it;
 * tests hand in a recorder and check that no secret ever reaches it.
 */
export interface RunLog {
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
}

/** A log that drops everything. */
export const silentLog: RunLog = { info: () => undefined, warn: () => undefined };
