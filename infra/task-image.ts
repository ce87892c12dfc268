/**
 * The task image and what it is given: the Docker build context staged from the CLI bundle (one
 * asset for the backup, restore and drill tasks), and the OpenPGP recipients' public keys the
 * backup task receives in its environment (the key files are not in the image).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type { Construct } from 'constructs';
import type { Config } from '../core/config/schema.ts';
import { ConfigError } from '../core/errors.ts';
import { PACKAGE_ROOT } from './function-code.ts';

/** Reads every OpenPGP recipient key of the config: `{path as written: armored key}`. */
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
  if (problems.length) throw new ConfigError(problems.join('\n'));
  return keys;
}

/**
 * Stages the minimal Docker build context (Dockerfile, .dockerignore, CLI bundle) of the task
 * image: one asset, shared by the backup, restore and drill task definitions.
 */
export function defaultTaskImage(scope: Construct, bundleFile: string): ecs.ContainerImage {
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
  const context = path.join(tmpdir(), `dumpvault-task-image-${hash}`);
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
    platform: Platform.LINUX_AMD64,
  });
  return ecs.ContainerImage.fromDockerImageAsset(asset);
}
