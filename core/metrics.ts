/**
 * Names shared by the deployment (infra/, the Lambdas' EMF) and the CLI's `status --remote`:
 * one place, so an alarm lookup always matches what the watchdog publishes.
 */

/** CloudWatch namespace of every dumpvault metric. */
export const METRIC_NAMESPACE = 'DumpVault';
/** The `service` dimension Powertools adds to every metric. */
export const SERVICE_NAME = 'dumpvault';
/** Hours since a job's last SUCCEEDED backup (published by the watchdog every 15 min). */
export const HOURS_SINCE_LAST_SUCCESS = 'HoursSinceLastSuccess';
