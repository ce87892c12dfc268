/**
 * What a deployed function reads from its environment. The construct sets every variable; the
 * config travels inside the function's code asset as `config.json` (it is too large for the
 * 4 KiB Lambda environment and holds no secrets).
 */
import path from 'node:path';
import type { z } from 'zod';
import { loadConfig } from '../../core/config/load.ts';
import type { Config } from '../../core/config/schema.ts';
import { FunctionEnv } from '../../core/contracts/function-env.ts';
import { ConfigError } from '../../core/errors.ts';
import type { TaskLaunchSettings } from './start-backup.ts';

/** Environment variables of the Lambdas: the contract lives in core/contracts/function-env.ts. */
export { FunctionEnv } from '../../core/contracts/function-env.ts';

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

/** A required variable holding JSON of the shape `schema` describes, or a ConfigError naming it. */
export function requireEnvJson<T>(
  name: string,
  schema: z.ZodType<T>,
  env: NodeJS.ProcessEnv = process.env,
): T {
  let value: unknown;
  try {
    value = JSON.parse(requireEnv(name, env));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`environment variable ${name} is not valid JSON; redeploy the stack`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new ConfigError(parsed.error.issues[0]?.message ?? `environment variable ${name} is malformed`);
  return parsed.data;
}

/**
 * A variable that holds one of `allowed`, or `fallback` when unset (a function deployed before
 * the variable existed); any other value is a ConfigError naming it.
 */
export function envChoice<const T extends string>(
  name: string,
  allowed: readonly T[],
  fallback: T,
  env: NodeJS.ProcessEnv = process.env,
): T {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(
      `environment variable ${name} is ${JSON.stringify(value)}; expected ${allowed.join(' or ')}`,
    );
  }
  return value as T;
}

/** Where backup tasks run, as the construct tells start-backup and (with Spot jobs) task-stopped. */
export function deployedLaunchSettings(env: NodeJS.ProcessEnv = process.env): TaskLaunchSettings {
  return {
    cluster: requireEnv(FunctionEnv.cluster, env),
    taskFamilyPrefix: requireEnv(FunctionEnv.taskFamilyPrefix, env),
    containerName: requireEnv(FunctionEnv.containerName, env),
    subnets: requireEnvList(FunctionEnv.subnets, env),
    securityGroups: requireEnvList(FunctionEnv.securityGroups, env),
    assignPublicIp: envChoice(FunctionEnv.assignPublicIp, ['ENABLED', 'DISABLED'], 'DISABLED', env),
  };
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
