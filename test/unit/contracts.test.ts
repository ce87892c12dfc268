/**
 * Every agreement between the CLI, the task, the Lambdas, the state machine and infra is spelled
 * once, in core/contracts/, and imported by every side (docs/contracts.md).
 * Bug caught: a side that spells a contract's string itself (an alarm on 'HoursSinceLastSucess',
 * a task reading 'DUMPVAULT_BACKUP_KEYS'): a rename then compiles and fails at run time.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { JOB_DIMENSION, METRIC_NAMESPACE, METRICS } from '../../core/contracts/cloudwatch.ts';
import { DUMP_FORMATS } from '../../core/contracts/dump-formats.ts';
import { FunctionEnv } from '../../core/contracts/function-env.ts';
import { AlertPart, HistoryKeys } from '../../core/contracts/history-keys.ts';
import { META_FOLDER, META_PASSPHRASE_ENV } from '../../core/contracts/meta-backup.ts';
import { PROMETHEUS_METRICS } from '../../core/contracts/prometheus.ts';
import { PRUNE_ENV, PRUNE_FUNCTIONS_ENV, PRUNE_SEPARATELY } from '../../core/contracts/prune.ts';
import {
  failurePath,
  RecordStep,
  RestoreError,
  RestoreResultKey,
  RestoreState,
  resultPath,
} from '../../core/contracts/restore-state-machine.ts';
import { RestoreTaskEnv } from '../../core/contracts/restore-task.ts';
import {
  ContainerName,
  DEFAULT_STACK_NAME,
  StackOutput,
  StackOutputEnv,
} from '../../core/contracts/stack.ts';
import { ECS_METADATA_ENV, TaskEnv } from '../../core/contracts/task-env.ts';

const root = path.join(import.meta.dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir)).flatMap((name) => {
    const rel = path.join(dir, name);
    if (statSync(path.join(root, rel)).isDirectory()) return sources(rel);
    return rel.endsWith('.ts') ? [rel] : [];
  });
}

const CONTRACT_STRINGS: readonly string[] = [
  ...new Set([
    METRIC_NAMESPACE,
    JOB_DIMENSION,
    ...Object.values(METRICS),
    ...Object.values(DUMP_FORMATS),
    ...Object.values(PROMETHEUS_METRICS).map((m) => m.name),
    ...Object.values(TaskEnv),
    ...Object.values(RestoreTaskEnv),
    ...Object.values(FunctionEnv),
    ECS_METADATA_ENV,
    PRUNE_ENV,
    PRUNE_FUNCTIONS_ENV,
    PRUNE_SEPARATELY,
    ...Object.values(RestoreState),
    ...Object.values(RestoreError),
    ...Object.values(RecordStep),
    // Result paths as the state machine definition would spell them (`resultPath: '$.run'`).
    ...Object.values(RestoreResultKey).map(resultPath),
    failurePath(RestoreState.resolve).replace(RestoreState.resolve, ''),
    ...Object.values(HistoryKeys),
    ...Object.values(AlertPart),
    META_FOLDER,
    META_PASSPHRASE_ENV,
    DEFAULT_STACK_NAME,
    ...Object.values(StackOutput),
    ...Object.values(StackOutputEnv),
    // The task container's name is also the program's name (user agent, PGAPPNAME): only the
    // sidecar's is checked as a literal; both are typed through ContainerName.
    ContainerName.sidecar,
  ]),
];

/** Environment variable names, which infra also spells as object keys (`{ DUMPVAULT_BUCKET: … }`). */
const ENV_NAMES: readonly string[] = [
  ...new Set([
    ...Object.values(TaskEnv),
    ...Object.values(RestoreTaskEnv),
    ...Object.values(FunctionEnv),
    ...Object.values(StackOutputEnv),
    ECS_METADATA_ENV,
    META_PASSPHRASE_ENV,
    PRUNE_ENV,
    PRUNE_FUNCTIONS_ENV,
  ]),
];

/**
 * Literals that are the same string as a contract but mean something else, each spelled once:
 * the id of the DumpVault construct in its stack (every resource's logical id starts with it;
 * changing it replaces them) equals the default stack name and the metric namespace.
 */
const NOT_CONTRACTS: Readonly<Record<string, readonly string[]>> = {
  [path.join('infra', 'stack.ts')]: [DEFAULT_STACK_NAME],
};

describe('core/contracts', () => {
  it('is the only source file that spells a contract string', () => {
    const files = ['core', 'functions', 'infra', 'task-image', 'scripts']
      .flatMap(sources)
      .filter((f) => !f.startsWith(`core${path.sep}contracts${path.sep}`));
    const found: string[] = [];
    for (const file of files) {
      const text = readFileSync(path.join(root, file), 'utf8');
      for (const value of CONTRACT_STRINGS) {
        const spelled = [`'${value}'`, `"${value}"`];
        // Key prefixes (`JOB#`, `RUN#`, …) start a template literal: \`JOB#\${job}\`.
        if (value.endsWith('#')) spelled.push(`\`${value}\${`);
        if (NOT_CONTRACTS[file]?.includes(value)) {
          const count = spelled.reduce((n, s) => n + text.split(s).length - 1, 0);
          if (count > 1) found.push(`${file}: ${value} (${count} times)`);
          continue;
        }
        if (spelled.some((s) => text.includes(s))) found.push(`${file}: ${value}`);
      }
      for (const name of ENV_NAMES) {
        if (new RegExp(`[\\s{,]${name}\\??:|\\.${name}\\b`).test(text)) found.push(`${file}: ${name}`);
      }
    }
    expect(found).toEqual([]);
  });

  // Bug caught: a default Fargate size spelled again (start-backup sent 1024/2048 while the
  // schema's default changed): the task then runs with another size than the one validated;
  // the run timeout likewise (task backup and cdk synth's checks each said 720).
  it('is the only source file that spells a default task size or run timeout', () => {
    const files = ['core', 'functions', 'infra', 'task-image']
      .flatMap(sources)
      .filter((f) => !f.startsWith(`core${path.sep}contracts${path.sep}`));
    const found = files.filter((file) =>
      /\b(cpu|memoryMiB|memoryLimitMiB|timeoutMinutes)\b\s*(:|\?\?)\s*\d|\.default\((1024|2048|720)\)/.test(
        readFileSync(path.join(root, file), 'utf8'),
      ),
    );
    expect(found).toEqual([]);
  });

  it('imports nothing of ours from outside core/contracts', () => {
    const outside = sources(path.join('core', 'contracts')).flatMap((file) =>
      [...readFileSync(path.join(root, file), 'utf8').matchAll(/from '(\.[^']*)'/g)]
        .map((m) => m[1]!)
        .filter((spec) => !spec.startsWith('./'))
        .map((spec) => `${file}: ${spec}`),
    );
    expect(outside).toEqual([]);
  });
});
