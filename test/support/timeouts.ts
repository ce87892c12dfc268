/**
 * How long a phase of a test may take, by the work it does. The suite must pass on a busy
 * 2-core machine (load 10–20, two `npm test` at once), where a backup that takes 2 s on an idle
 * machine was seen taking 90 s: a timeout is there to end a hang, not to measure speed, so
 * each budget is a few times the slowest run seen under that load.
 */
export const TIMEOUT = {
  /** A test that runs a few backups or restores through real tools, servers and emulators. */
  roundTrips: 5 * 60_000,
  /**
   * A test that builds the package (`npm pack`: the CLI bundle, tsc over the construct library and
   * every Lambda bundle): 40 s on an idle machine, over 300 s with two suites at once.
   */
  build: 10 * 60_000,
  /** A `beforeAll` that makes backups, synthesizes a stack or builds a bundle before the tests. */
  setup: 10 * 60_000,
} as const;
