/**
 * Every agreement between the CLI, the task, the Lambdas, the state machine and infra is spelled
 * once, in core/contracts/, and imported by every side (docs/contracts.md).
 * Bug caught: a side that spells a contract's string itself (an alarm on 'HoursSinceLastSucess',
 * a task reading 'DUMPVAULT_BACKUP_KEYS'): a rename then compiles and fails at run time.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { METRICS } from '../../core/contracts/cloudwatch.ts';
import { DUMP_FORMATS } from '../../core/contracts/dump-formats.ts';
import { FunctionEnv } from '../../core/contracts/function-env.ts';
import { HistoryKeys } from '../../core/contracts/history-keys.ts';
import { PROMETHEUS_METRICS } from '../../core/contracts/prometheus.ts';
import { PRUNE_ENV, PRUNE_FUNCTIONS_ENV } from '../../core/contracts/prune.ts';
import { RecordStep, RestoreError, RestoreState } from '../../core/contracts/restore-state-machine.ts';
import { RestoreTaskEnv } from '../../core/contracts/restore-task.ts';
import { ContainerName, StackOutput, StackOutputEnv } from '../../core/contracts/stack.ts';
import { TaskEnv } from '../../core/contracts/task-env.ts';

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
    ...Object.values(METRICS),
    ...Object.values(DUMP_FORMATS),
    ...Object.values(PROMETHEUS_METRICS).map((m) => m.name),
    ...Object.values(TaskEnv),
    ...Object.values(RestoreTaskEnv),
    ...Object.values(FunctionEnv),
    PRUNE_ENV,
    PRUNE_FUNCTIONS_ENV,
    ...Object.values(RestoreState),
    ...Object.values(RestoreError),
    ...Object.values(RecordStep),
    ...Object.values(HistoryKeys),
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
    PRUNE_ENV,
    PRUNE_FUNCTIONS_ENV,
  ]),
];

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
        if (spelled.some((s) => text.includes(s))) found.push(`${file}: ${value}`);
      }
      for (const name of ENV_NAMES) {
        if (new RegExp(`[\\s{,]${name}\\??:|\\.${name}\\b`).test(text)) found.push(`${file}: ${name}`);
      }
    }
    expect(found).toEqual([]);
  });

  // Bug caught: a default Fargate size spelled again (start-backup sent 1024/2048 while the
  // schema's default changed): the task then runs with another size than the one validated.
  it('is the only source file that spells a default task size', () => {
    const files = ['core', 'functions', 'infra', 'task-image']
      .flatMap(sources)
      .filter((f) => !f.startsWith(`core${path.sep}contracts${path.sep}`));
    const found = files.filter((file) =>
      /\b(cpu|memoryMiB|memoryLimitMiB)\b\s*(:|\?\?)\s*\d|\.default\((1024|2048)\)/.test(
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
