/**
 * scripts/task-image-smoke.sh without Docker (issue 13 §1): this machine has no Docker daemon,
 * so a stand-in `docker` executable, first on PATH and clearly not Docker, records every call
 * the script makes; for the `dumpvault check` call it runs the script's own shell payload on
 * this machine (the CLI bundle in place of /app/dumpvault.mjs, a scratch folder in place of the
 * container's /tmp) against the real PostgreSQL server. What a real build or a real container
 * does is not tested here (README Limits).
 *
 * Bugs caught: the script building an image without the Dockerfile's .dockerignore or without
 * the bundle under the name the Dockerfile copies; running the image other than the task does
 * (not read-only, no init process, not its own user); a tool the engines spawn left out of the
 * check; a smoke config the CLI rejects; the script carrying on without a Docker daemon.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { TIMEOUT } from '../../support/timeouts.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../..');
const BUNDLE = path.join(ROOT, 'dist', 'dumpvault.mjs');
const work = mkdtempSync(path.join(tmpdir(), 'dvt-smoke-script-'));

/** A `docker` stand-in: logs its arguments (unit separator after each, record separator after each call). */
const FAKE_DOCKER = `#!/bin/sh
{ for a in "$@"; do printf '%s\\037' "$a"; done; printf '\\036'; } >> "$FAKE_DOCKER_LOG"
[ "$1" = info ] && exit "\${FAKE_DOCKER_INFO_EXIT:-0}"
if [ "$1" = build ]; then
  eval "ctx=\\\${$#}"
  (cd "$ctx" && ls -A | tr '\\n' ' ' && echo) > "$FAKE_DOCKER_LOG.context"
  cmp -s "$ctx/dumpvault.mjs" "$SMOKE_BUNDLE" && echo same-bundle >> "$FAKE_DOCKER_LOG.context"
fi
payload=""; prev=""
for a in "$@"; do [ "$prev" = "-c" ] && payload="$a"; prev="$a"; done
case "$payload" in
  *"check smoke"*)
    # The container's /tmp first: the bundle's own path may lie under the host's /tmp.
    payload=$(printf '%s' "$payload" | sed -e "s#/tmp#$FAKE_DOCKER_TMP#g" -e "s#/app/dumpvault.mjs#$SMOKE_BUNDLE#g")
    exec sh -c "$payload" ;;
esac
exit 0
`;

const bin = path.join(work, 'bin');
const fake = path.join(bin, 'docker');
mkdirSync(bin);
mkdirSync(path.join(work, 'container-tmp'));
writeFileSync(fake, FAKE_DOCKER);
chmodSync(fake, 0o755);

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs the script with the stand-in; returns its exit code, output and the calls it made. */
async function smoke(name: string, env: Record<string, string>) {
  const log = path.join(work, `${name}.log`);
  writeFileSync(log, '');
  const result = await run('bash', ['scripts/task-image-smoke.sh'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PATH: `${bin}:${process.env['PATH']}`,
      FAKE_DOCKER_LOG: log,
      FAKE_DOCKER_TMP: path.join(work, 'container-tmp'),
      SMOKE_BUNDLE: BUNDLE,
      ...env,
    },
  }).then(
    (r) => ({ code: 0, output: r.stdout + r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, output: e.stdout + e.stderr }),
  );
  const calls = readFileSync(log, 'utf8')
    .split('\x1e')
    .filter(Boolean)
    .map((call) => call.split('\x1f').slice(0, -1));
  const context = (() => {
    try {
      return readFileSync(`${log}.context`, 'utf8');
    } catch {
      return '';
    }
  })();
  return { ...result, calls, context };
}

describe('scripts/task-image-smoke.sh, against a stand-in docker', { timeout: TIMEOUT.setup }, () => {
  it('stops with exit code 2 and says why when no Docker daemon answers, building nothing', async () => {
    const { code, output, calls } = await smoke('no-daemon', { FAKE_DOCKER_INFO_EXIT: '1' });

    expect(code).toBe(2);
    expect(output).toContain('task-image-smoke: no Docker daemon here; nothing built');
    expect(calls).toEqual([['info']]);
  });

  it('builds the image for the platform asked, from the Dockerfile, its .dockerignore and the bundle', async () => {
    const { code, output, calls, context } = await smoke('arm64', { PLATFORM: 'linux/arm64' });

    expect(code, output).toBe(0);
    const build = calls.find((c) => c[0] === 'build')!;
    expect(build.slice(0, 5)).toEqual(['build', '--platform', 'linux/arm64', '-t', 'dumpvault-task:smoke']);
    expect(context.split('\n')[0]!.trim().split(' ').sort()).toEqual([
      '.dockerignore',
      'Dockerfile',
      'dumpvault.mjs',
    ]);
    expect(context).toContain('same-bundle');
    expect(output).toContain('task-image-smoke: ok (linux/arm64)');
  });

  it('runs every tool the engines spawn, and the bundle, as the task runs the image', async () => {
    const { calls } = await smoke('tools', {});

    const runs = calls.filter((c) => c[0] === 'run');
    for (const r of runs) {
      // Read-only root, /tmp writable, an init process, the image's own user (no --user).
      expect(r.slice(0, 9)).toEqual([
        'run',
        '--rm',
        '--init',
        '--platform',
        'linux/amd64',
        '--read-only',
        '--tmpfs',
        '/tmp',
        '--entrypoint',
      ]);
      expect(r).not.toContain('--user');
    }
    const payloads = runs.map((r) => r.slice(r.indexOf('dumpvault-task:smoke') + 1).join(' '));
    for (const tool of [
      'pg_dump',
      'pg_restore',
      'psql',
      'mariadb-dump',
      'mariadb',
      'sqlite3',
      'zstd',
      'mongodump',
      'mongorestore',
      'mongosh',
    ]) {
      expect(payloads, tool).toContainEqual(
        `sh -c command -v ${tool} >/dev/null && ${tool} --version | head -1`,
      );
    }
    expect(payloads).toContainEqual('sh -c id -u && echo "HOME=$HOME"');
    expect(payloads).toContainEqual('node /app/dumpvault.mjs --version');
    expect(
      payloads.some((p) => p.includes('/usr/lib/postgresql/*') && p.includes('pg_dump" --version')),
    ).toBe(true);
  });

  it('checks a one-job config against the database SMOKE_URL names (real PostgreSQL here)', async () => {
    const url = 'postgres://postgres@127.0.0.1:5432/postgres';
    const { code, output, calls } = await smoke('check', { SMOKE_URL: url });

    expect(code, output).toBe(0);
    const check = calls.find((c) => c.join(' ').includes('check smoke'))!;
    expect(check).toEqual(
      expect.arrayContaining(['--add-host', 'host.docker.internal:host-gateway', '-e', 'SMOKE_URL']),
    );
    // The CLI accepted the config the script wrote, reached the server and the destination.
    expect(output).toMatch(/^ok +source +postgres \d+.*pg_dump \d+\S* is compatible$/m);
    expect(output).toMatch(/^ok +destination tmp +file:\/\/\S+\/container-tmp\/b is writable$/m);
    const config = JSON.parse(readFileSync(path.join(work, 'container-tmp', 'c.json'), 'utf8'));
    expect(config.jobs[0]).toMatchObject({ name: 'smoke', engine: 'postgres', source: { url } });
  });
});
