/**
 * The CDK app (`npx cdk synth|deploy`): reads dumpvault.config.json — or the file named by the
 * context value `config` (`-c config=path`) or DUMPVAULT_CONFIG — and deploys it as one stack.
 */
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../core/config/load.ts';
import { DEFAULT_STACK_NAME } from '../core/contracts/stack.ts';
import { UserError } from '../core/errors.ts';
import type { DumpVaultProps } from './dumpvault.ts';
import { DumpVaultStack } from './stack.ts';

/** Adds the stack of a config file to `app`; `overrides` replace construct props (tests, embedding). */
export function buildApp(
  app: App,
  configFile: string,
  overrides: Partial<Omit<DumpVaultProps, 'config'>> = {},
): DumpVaultStack {
  const { config, baseDir } = loadConfig(configFile);
  const aws = config.aws;
  const env = aws?.account || aws?.region ? { account: aws.account, region: aws.region } : undefined;
  return new DumpVaultStack(app, aws?.stackName ?? DEFAULT_STACK_NAME, {
    config,
    configDir: baseDir,
    ...(env ? { env } : {}),
    description: 'dumpvault: scheduled, streaming, encrypted database backups',
    ...overrides,
  });
}

function main(): void {
  const app = new App();
  const fromContext = app.node.tryGetContext('config') as string | undefined;
  const file = path.resolve(fromContext ?? process.env['DUMPVAULT_CONFIG'] ?? DEFAULT_CONFIG_FILE);
  try {
    buildApp(app, file);
  } catch (err) {
    if (err instanceof UserError) {
      console.error(`dumpvault: ${err.message}`);
      process.exit(err.exitCode);
    }
    throw err;
  }
  app.synth();
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename ?? '')) main();
