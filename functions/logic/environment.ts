/**
 * What a deployed function reads from its environment. The construct sets every variable; the
 * config travels inside the function's code asset as `config.json` (it is too large for the
 * 4 KiB Lambda environment and holds no secrets).
 */
import path from 'node:path';
import { loadConfig } from '../../core/config/load.ts';
import type { Config } from '../../core/config/schema.ts';
import { ConfigError } from '../../core/errors.ts';

/** Environment variables of the Lambdas (set by the DumpVault construct). */
export const FunctionEnv = {
  historyTable: 'DUMPVAULT_HISTORY_TABLE',
  topicArn: 'DUMPVAULT_TOPIC_ARN',
  cluster: 'DUMPVAULT_CLUSTER',
  /** Each job's task definition family is this prefix followed by the job's name. */
  taskFamilyPrefix: 'DUMPVAULT_TASK_FAMILY_PREFIX',
  containerName: 'DUMPVAULT_CONTAINER_NAME',
  /** Comma-separated private subnet ids. */
  subnets: 'DUMPVAULT_SUBNETS',
  /** Comma-separated security group ids. */
  securityGroups: 'DUMPVAULT_SECURITY_GROUPS',
  /** The stack's bucket: what `"bucket": "managed"` means (restore steps). */
  bucket: 'DUMPVAULT_BUCKET',
  /** `dumpvault-restore-target=<stack>`: the tag that lets the deployment read a restore target's secret (Guard). */
  restoreTargetTag: 'DUMPVAULT_RESTORE_TARGET_TAG',
  /** Path of the config; defaults to `config.json` beside the handler code. */
  configFile: 'DUMPVAULT_CONFIG_FILE',
} as const;

/** A required variable, or a ConfigError naming it. */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (!value)
    throw new ConfigError(
      `environment variable ${name} is not set; deploy the function with the DumpVault construct`,
    );
  return value;
}

/** A comma-separated list variable. */
export function requireEnvList(name: string, env: NodeJS.ProcessEnv = process.env): string[] {
  return requireEnv(name, env)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The config bundled with the function (or the file `DUMPVAULT_CONFIG_FILE` names). */
export function loadDeployedConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const file =
    env[FunctionEnv.configFile] ?? path.join(env['LAMBDA_TASK_ROOT'] ?? process.cwd(), 'config.json');
  return loadConfig(file).config;
}

/** Memoises a value created on first use (settings are read once per container, not at import). */
export function once<T>(create: () => T): () => T {
  let value: { v: T } | undefined;
  return () => {
    value ??= { v: create() };
    return value.v;
  };
}
