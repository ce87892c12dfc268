/**
 * The task image and what it is given: the Docker build context staged from the CLI bundle (one
 * asset for the backup, restore and drill tasks), and the OpenPGP recipients' public keys the
 * backup task receives in its environment (the key files are not in the image).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Stage } from 'aws-cdk-lib';
import { DockerImageAsset, type Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type { Construct } from 'constructs';
import type { Config } from '../core/config/schema.ts';
import { ConfigError } from '../core/errors.ts';
import { PACKAGE_ROOT } from './function-bundle.ts';

/** Reads every OpenPGP recipient key of the config (encryption entries and metaBackup): `{path as written: armored key}`. */
export function readPublicKeys(config: Config, configDir: string): Record<string, string> {
  const keys: Record<string, string> = {};
  const problems: string[] = [];
  for (const [name, enc] of Object.entries(config.encryption)) {
    if (enc.type !== 'openpgp') continue;
    enc.recipients.forEach((recipient, i) => {
      const file = path.resolve(configDir, recipient);
      try {
        const text = readFileSync(file, 'utf8');
        if (/PRIVATE KEY BLOCK/.test(text)) {
          problems.push(
            `encryption.${name}.recipients[${i}]: ${recipient} holds a private key; give the public key`,
          );
        } else {
          keys[recipient] = text;
        }
      } catch {
        problems.push(
          `encryption.${name}.recipients[${i}]: cannot read ${file}; expected an armored public key file`,
        );
      }
    });
  }
  // The meta-backup's recipients: the backup task encrypts dumpvault's own config to them.
  config.metaBackup?.recipients?.forEach((recipient, i) => {
    const file = path.resolve(configDir, recipient);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      problems.push(`metaBackup.recipients[${i}]: cannot read ${file}; expected an armored public key file`);
      return;
    }
    if (/PRIVATE KEY BLOCK/.test(text))
      problems.push(`metaBackup.recipients[${i}]: ${recipient} holds a private key; give the public key`);
    else keys[recipient] = text;
  });
  if (problems.length) throw new ConfigError(problems.join('\n'));
  return keys;
}

/**
 * Stages the minimal Docker build context (Dockerfile, .dockerignore, CLI bundle) of the task
 * image: one asset, shared by the backup, restore and drill task definitions, built for the
 * tasks' architecture (`platform`: infra/fargate.ts). The context is staged in the app's output
 * directory (beside cdk.out's assets, named by its content), not in the system temp folder.
 */
export function defaultTaskImage(
  scope: Construct,
  bundleFile: string,
  platform: Platform,
): ecs.ContainerImage {
  if (!existsSync(bundleFile)) {
    throw new ConfigError(
      `the task bundle ${bundleFile} does not exist; run "npm run build" (it also runs on npm ci) or pass taskBundle`,
    );
  }
  const dockerfile = path.join(PACKAGE_ROOT, 'task-image', 'Dockerfile');
  const dockerignore = path.join(PACKAGE_ROOT, 'task-image', '.dockerignore');
  const hash = createHash('sha256')
    .update(readFileSync(dockerfile))
    .update(existsSync(dockerignore) ? readFileSync(dockerignore) : '')
    .update(readFileSync(bundleFile))
    .digest('hex')
    .slice(0, 16);
  const stage = Stage.of(scope);
  if (!stage) throw new Error('the task image needs a construct inside a CDK App or Stage');
  const context = path.join(stage.assetOutdir, 'dumpvault-staging', `task-image-${hash}`);
  if (!existsSync(path.join(context, 'dumpvault.mjs'))) {
    mkdirSync(context, { recursive: true });
    copyFileSync(dockerfile, path.join(context, 'Dockerfile'));
    if (existsSync(dockerignore)) copyFileSync(dockerignore, path.join(context, '.dockerignore'));
    copyFileSync(bundleFile, path.join(context, 'dumpvault.mjs'));
    if (existsSync(`${bundleFile}.map`))
      copyFileSync(`${bundleFile}.map`, path.join(context, 'dumpvault.mjs.map'));
  }
  const asset = new DockerImageAsset(scope, 'TaskImage', {
    directory: context,
    platform,
  });
  return ecs.ContainerImage.fromDockerImageAsset(asset);
}
