/**
 * A CDK app of another project, as its author would write it: it imports the construct from the
 * installed `dumpvault` package (test/infra/consumer.test.ts packs and installs it next to this
 * file, compiles it with plain tsc and runs it). Nothing here may import from the repository.
 */
import { App, Stack } from 'aws-cdk-lib';
import { type Config, DumpVault, validateConfig } from 'dumpvault';

const config: Config = validateConfig({
  destinations: { primary: { type: 's3', bucket: 'managed' } },
  jobs: [
    {
      name: 'orders',
      engine: 'postgres',
      source: { url: 'postgres://backup@orders.internal:5432/orders' },
      schedule: { cron: '0 3 * * ? *', timezone: 'Europe/Berlin' },
      destinations: ['primary'],
      retention: { daily: 7 },
    },
  ],
});

const app = new App({ outdir: process.env['CONSUMER_OUTDIR'] ?? 'cdk.out' });
const stack = new Stack(app, 'Consumer', { env: { account: '123456789012', region: 'eu-west-1' } });
const vault = new DumpVault(stack, 'Backups', { config });
stack.exportValue(vault.bucket.bucketName);

// The package's .d.ts carry real types (from its own sources and zod): were any of them to
// degrade to `any`, these mistakes would compile and each @ts-expect-error would fail tsc.
// @ts-expect-error -- not an engine dumpvault knows
export const engine: Config['jobs'][number]['engine'] = 'oracle';
// @ts-expect-error -- not a prop of the construct
export const props: ConstructorParameters<typeof DumpVault>[2] = { config, bucketName: 'x' };
// @ts-expect-error -- the construct has no such member
export const missing = vault.backupSchedules;
app.synth();
