/**
 * The defaults of every bound on a wait (DESIGN.md §6: store requests, upload progress,
 * database locks, the whole run). The config schema, the CLI, the task and the docs agree
 * on these numbers through this file.
 */

/** How long opening a connection to a store may take before the request fails (and is retried). */
export const S3_CONNECT_TIMEOUT_SECONDS = 10;

/** How long a store request may send and receive nothing before it fails (and is retried). */
export const S3_REQUEST_TIMEOUT_SECONDS = 120;

/** How long an upload may wait on the store with no request completing before it fails. */
export const S3_STALL_TIMEOUT_SECONDS = 300;

/** The longest the clean-up of a failed upload (abort, delete) may take before it gives up. */
export const S3_CLEANUP_TIMEOUT_SECONDS = 60;

/** How long a dump, or a helper session of it, may wait for a table lock. */
export const LOCK_WAIT_TIMEOUT_SECONDS = 300;

/** How long a whole run may take (`task.timeoutMinutes`), on AWS and locally. */
export const RUN_TIMEOUT_MINUTES = 720;
