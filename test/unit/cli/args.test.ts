/**
 * Bug caught: every command accepted every flag of every other command, so `prune app --all`
 * or `backup app --drop` ran as if the flag were not there.
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../core/errors.ts';
import { COMMAND_FLAGS, checkCommandFlags, OPTIONS, parseCommandLine } from '../../../task-image/cli/args.ts';

function check(argv: string[]): void {
  const { command, flags } = parseCommandLine(argv);
  checkCommandFlags(String(command), flags);
}

describe('each command takes only its own flags', () => {
  it('refuses a flag of another command, naming it and what the command takes', () => {
    expect(() => check(['prune', 'app', '--all'])).toThrow(UsageError);
    expect(() => check(['prune', 'app', '--all'])).toThrow(
      /prune does not take --all; it takes --json, --dry-run/,
    );
    expect(() => check(['backup', 'app', '--drop', '--to', 'x'])).toThrow(
      /backup does not take --drop, --to/,
    );
    expect(() => check(['serve', '--limit', '3'])).toThrow(/serve does not take --limit/);
    expect(() => check(['backup', 'app', '--remote'])).toThrow(/backup does not take --remote/);
  });

  it('tells the remote form of a command from the local one', () => {
    expect(() =>
      check(['restore', 'app', '--remote', '--target', 'scratch', '--confirm', 'app']),
    ).not.toThrow();
    expect(() => check(['restore', 'app', '--target', 'scratch'])).toThrow(/restore does not take --target/);
    expect(() => check(['history', 'app', '--remote', '--to', 'x'])).toThrow(
      /history --remote does not take --to/,
    );
    expect(() => check(['drill', 'app', '--remote', '--key', 'k'])).toThrow(
      /drill --remote does not take --key/,
    );
  });

  it('accepts every flag a command is documented to take, and the common ones everywhere', () => {
    expect(() =>
      check(['restore', 'app', 'latest', '--to', 'x', '--drop', '--yes', '--skip-verify', '-k', 'k']),
    ).not.toThrow();
    expect(() =>
      check(['verify', 'app', '--all', '--key', 'k', '-c', 'c.json', '--state-dir', 's']),
    ).not.toThrow();
    expect(() => check(['history', 'app', '--csv', '--limit', '3'])).not.toThrow();
    expect(() => check(['serve', '--listen', '127.0.0.1:9464', '--skip-missed'])).not.toThrow();
  });

  it('lists only flags that exist, and every flag is taken by some command', () => {
    const listed = new Set(Object.values(COMMAND_FLAGS).flat());
    for (const name of listed) expect(Object.keys(OPTIONS)).toContain(name);
    const common = ['config', 'state-dir', 'help', 'version'];
    for (const name of Object.keys(OPTIONS)) if (!common.includes(name)) expect([...listed]).toContain(name);
  });
});
