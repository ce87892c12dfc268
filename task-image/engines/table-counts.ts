/**
 * Every engine asks its own client for row counts (and object counts) and has it print them as
 * one JSON object (`{"public.accounts": 1000}`), which is unambiguous whatever characters table
 * names contain.
 */
import type { TableStats } from '../../core/engine.ts';
import { ToolError } from '../../core/errors.ts';
import { OBJECT_KINDS, type ObjectCounts, type ObjectKind } from '../../core/formats/checker.ts';

/**
 * Parses the last line of `stdout` that holds a JSON object into per-table row counts.
 * Throws a ToolError (naming `tool`) when there is no such line or a count is not a whole number.
 */
export function parseTableCounts(stdout: string, tool: string): TableStats {
  const value = lastJsonObject(stdout, tool);
  const stats: TableStats = {};
  for (const [table, count] of Object.entries(value)) {
    const n = typeof count === 'string' ? Number(count) : count;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      throw new ToolError(
        `${tool} reported ${JSON.stringify(count)} rows for ${table}; expected a whole number`,
      );
    }
    stats[table] = n;
  }
  return stats;
}

/** The last line of `stdout` that parses as a JSON object (clients may print notices before it). */
export function lastJsonObject(stdout: string, tool: string): Record<string, unknown> {
  const lines = stdout.split('\n').map((l) => l.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (!line.startsWith('{')) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (value && typeof value === 'object' && !Array.isArray(value))
        return value as Record<string, unknown>;
    } catch {
      // not this line
    }
  }
  throw new ToolError(`${tool} printed no JSON result; expected one line like {"table": 123}`);
}

/**
 * Parses the last JSON object line of `stdout` into object counts (`{"tables": 5, "views": 2}`):
 * only the kinds {@link OBJECT_KINDS} names; a ToolError (naming `tool`) for any other value.
 */
export function parseObjectCounts(stdout: string, tool: string): ObjectCounts {
  const value = lastJsonObject(stdout, tool);
  const counts: Partial<Record<ObjectKind, number>> = {};
  for (const kind of OBJECT_KINDS) {
    if (!(kind in value)) continue;
    const n = Number(value[kind]);
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new ToolError(`${tool} reported ${JSON.stringify(value[kind])} ${kind}; expected a whole number`);
    }
    counts[kind] = n;
  }
  return counts;
}
