/**
 * The ways docs/serve.md tells operators to run dumpvault (systemd unit, docker-compose,
 * crontab) are command lines the CLI takes, in files their programs read as meant.
 * Bugs caught: an end-of-line comment on `EnvironmentFile=` (systemd has none: the comment
 * became part of the path and the unit could not start); a crontab line whose `status` ran only
 * after a successful backup (`&&`), so node_exporter never learnt of a failing one.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkCommandFlags, parseCommandLine } from '../../../task-image/cli/args.ts';

const doc = readFileSync(path.join(import.meta.dirname, '..', '..', '..', 'docs', 'serve.md'), 'utf8');

/** The body of the one fenced block of `lang`. */
function block(lang: string): string[] {
  const blocks = [...doc.matchAll(new RegExp(`^\`\`\`${lang}\\n([\\s\\S]*?)^\`\`\``, 'gm'))];
  expect(blocks, `one \`\`\`${lang} block in docs/serve.md`).toHaveLength(1);
  return blocks[0]![1]!.split('\n').filter((line) => line.trim() !== '');
}

/** Fails unless `args` (after the program name) is a dumpvault command line the CLI accepts. */
function expectAccepted(args: readonly string[]): string {
  const parsed = parseCommandLine(args);
  expect(parsed.command).toBeDefined();
  checkCommandFlags(parsed.command!, parsed.flags);
  return parsed.command!;
}

describe('docs/serve.md', () => {
  it('gives a systemd unit without end-of-line comments, whose ExecStart is a serve command line', () => {
    const lines = block('ini');
    const settings = lines.filter((l) => !/^\s*[#;[]/.test(l));
    for (const line of settings) {
      expect(line, 'systemd reads "# …" after a value as part of the value').not.toMatch(/=.*\s[#;]/);
    }
    expect(settings).toContain('EnvironmentFile=/etc/dumpvault/env');
    const exec = settings
      .find((l) => l.startsWith('ExecStart='))!
      .slice('ExecStart='.length)
      .split(/\s+/);
    expect(exec[0]).toMatch(/\/dumpvault$/);
    expect(expectAccepted(exec.slice(1))).toBe('serve');
  });

  it('gives a docker-compose service whose entrypoint runs serve', () => {
    const line = block('yaml').find((l) => l.includes('entrypoint:'))!;
    const next = block('yaml')[block('yaml').indexOf(line) + 1]!;
    const entrypoint = JSON.parse(`${line.replace(/^\s*entrypoint:\s*/, '')}${next.trim()}`) as string[];
    expect(entrypoint.slice(0, 2)).toEqual(['node', '/app/dumpvault.mjs']);
    expect(expectAccepted(entrypoint.slice(2))).toBe('serve');
  });

  it('gives crontab lines whose status runs whatever the backup did', () => {
    const lines = block('cron');
    const commands = lines.map((line) => line.trim().split(/\s+/).slice(5).join(' '));
    const ran: string[] = [];
    for (const command of commands) {
      expect(command, 'status must run after a failed backup too').not.toContain('&&');
      for (const part of command.split(';')) {
        const words = part.replace(/>\S+/g, '').trim().split(/\s+/);
        expect(words[0]).toBe('dumpvault');
        ran.push(expectAccepted(words.slice(1)));
      }
    }
    expect(ran).toContain('backup');
    expect(ran).toContain('status');
  });
});
