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
import { PROMETHEUS_METRICS } from '../../core/contracts/prometheus.ts';
import { PRUNE_ENV, PRUNE_FUNCTIONS_ENV } from '../../core/contracts/prune.ts';
import { RestoreTaskEnv } from '../../core/contracts/restore-task.ts';

const root = path.join(import.meta.dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir)).flatMap((name) => {
    const rel = path.join(dir, name);
    if (statSync(path.join(root, rel)).isDirectory()) return sources(rel);
    return rel.endsWith('.ts') ? [rel] : [];
  });
}

const CONTRACT_STRINGS: readonly string[] = [
  ...Object.values(METRICS),
  ...Object.values(DUMP_FORMATS),
  ...Object.values(PROMETHEUS_METRICS).map((m) => m.name),
  ...Object.values(RestoreTaskEnv),
  PRUNE_ENV,
  PRUNE_FUNCTIONS_ENV,
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
        if (text.includes(`'${value}'`) || text.includes(`"${value}"`)) found.push(`${file}: ${value}`);
      }
    }
    expect(found).toEqual([]);
  });
});
