/**
 * Lambda code assets: a handler's bundle (infra/function-bundle.ts) with the deployment's
 * `config.json` beside it (the config is too large for the Lambda environment and holds no
 * secrets). The files are written by CDK's local bundling straight into the app's output
 * directory (cdk.out/asset.<hash>), and only when that asset is not there yet: a synth stages
 * nothing anywhere else, in particular not in the system temp folder.
 */
import { createHash } from 'node:crypto';
import { AssetHashType, DockerImage, type ILocalBundling } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Config } from '../core/config/schema.ts';
import { bundleSourceDir, type FunctionName, functionBundle, writeFunctionAsset } from './function-bundle.ts';

export type { FunctionName } from './function-bundle.ts';

/** Writes one asset (bundle + config) into the directory CDK hands over. */
class FunctionAssetWriter implements ILocalBundling {
  constructor(
    /** Part of CDK's asset cache key (the key serialises this object's fields). */
    readonly key: string,
    private readonly name: FunctionName,
    private readonly configJson: string | undefined,
  ) {}

  tryBundle(outputDir: string): boolean {
    writeFunctionAsset(this.name, outputDir, this.configJson);
    return true;
  }
}

/**
 * The code asset of a handler: its bundle, plus `config.json` when `config` is given. The asset
 * hash is the hash of that content, so it only changes when the code or the config does.
 */
export function functionCode(name: FunctionName, config?: Config): lambda.Code {
  const { code, map } = functionBundle(name);
  const configJson = config ? `${JSON.stringify(config, null, 2)}\n` : undefined;
  const key = createHash('sha256')
    .update(name)
    .update(code)
    .update(map)
    .update(configJson ?? '')
    .digest('hex');
  return lambda.Code.fromAsset(bundleSourceDir(name), {
    assetHash: key,
    assetHashType: AssetHashType.CUSTOM,
    bundling: {
      // Never pulled: local bundling always succeeds (CDK requires an image to be named).
      image: DockerImage.fromRegistry('dumpvault/local-bundling-only'),
      local: new FunctionAssetWriter(key, name, configJson),
    },
  });
}
