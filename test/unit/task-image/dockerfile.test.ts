import { readFileSync } from 'node:fs';
import path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { SIDECAR_VERSIONS } from '../../../infra/drill-sidecars.ts';
import { TASK_USER, taskLinuxParameters } from '../../../infra/fargate.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const lines = readFileSync(path.join(ROOT, 'task-image/Dockerfile'), 'utf8')
  .split('\n')
  .map((l) => l.trim());
const indexOf = (pattern: RegExp) => lines.findIndex((l) => pattern.test(l));

describe('task image compile cache', () => {
  it('fills the cache at build, as the user the task runs as, where the task looks for it', () => {
    const user = indexOf(/^USER 10001:10001$/);
    const env = indexOf(/^ENV NODE_COMPILE_CACHE=(\S+)$/);
    const fill = indexOf(/^RUN node \/app\/dumpvault\.mjs --version$/);
    const entrypoint = indexOf(/^ENTRYPOINT \["node", "\/app\/dumpvault\.mjs"/);
    expect(user).toBeGreaterThan(-1);
    expect(env).toBeGreaterThan(-1);
    // Node names the cache's subdirectory after the user id: filled as root, the task (uid 10001)
    // would never read it.
    expect(fill).toBeGreaterThan(user);
    // Without the variable set when the bundle runs at build, nothing is written.
    expect(fill).toBeGreaterThan(env);
    // The cache is keyed by the file's path: the fill must run the file the task runs.
    expect(entrypoint).toBeGreaterThan(fill);
    const dir = lines[env]!.split('=')[1]!;
    expect(lines.some((l) => l.includes(`install -d -o 10001 -g 10001 ${dir}`))).toBe(true);
  });
});

/**
 * What the task relies on in the image, read from the Dockerfile without Docker (issue 13 §1;
 * `scripts/task-image-smoke.sh` builds and runs it wherever Docker exists).
 */
describe('task image contents', () => {
  const text = readFileSync(path.join(ROOT, 'task-image/Dockerfile'), 'utf8');
  /** The Dockerfile's instructions, continuation lines joined. */
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const runs = instructions.filter((l) => l.startsWith('RUN '));
  const installs = runs.filter((l) => /apt-get install/.test(l));

  it('installs a PostgreSQL client for every drill sidecar major, and no end-of-life major', () => {
    // Bug: a sidecar major the image has no client for (pg_restore older than the archive), or
    // an image still carrying clients of majors nobody supports.
    const majors = /^ARG PG_MAJORS="([^"]+)"$/m.exec(text)?.[1]?.split(/\s+/);
    expect(majors).toEqual([...SIDECAR_VERSIONS.postgres]);
  });

  it('installs every tool the engines spawn, in one apt layer that purges what only set it up', () => {
    // Bug: a second apt layer keeps curl/gnupg or the package lists in a lower layer for good.
    expect(installs).toHaveLength(1);
    const [layer] = installs;
    for (const tool of [
      'postgresql-client-$v',
      'mariadb-client',
      'sqlite3',
      'zstd',
      'mongodb-database-tools',
      'mongodb-mongosh',
    ]) {
      expect(layer).toContain(tool);
    }
    expect(layer).toMatch(/apt-get purge -y --auto-remove curl gnupg;/);
    // Nothing after the lists are removed but running the tools just installed.
    expect(layer).toMatch(/rm -rf \/var\/lib\/apt\/lists\/\*; +mongodump --version; mongorestore --version$/);
  });

  it('runs as the unprivileged user the task definition names, with HOME on the writable /tmp', () => {
    // Bug: a root task (USER missing), a task definition naming another user than the image
    // (files the image prepared for its user unreadable), or HOME on the read-only root.
    const users = instructions.filter((l) => l.startsWith('USER '));
    expect(users).toEqual([`USER ${TASK_USER}`]);
    expect(instructions).toContain('ENV HOME=/tmp');
    expect(instructions.at(-2)).toBe('ENTRYPOINT ["node", "/app/dumpvault.mjs", "task"]');
    expect(instructions.at(-1)).toBe('CMD ["backup"]');
  });

  it('leaves PID 1 to the init process the task definitions enable: the entrypoint execs node itself', () => {
    // Bug caught: node as PID 1 (no init in the image and none in the task definition): SIGTERM
    // from StopTask or a Spot interruption reaches no default handler, and the dump tools'
    // orphans are never reaped; or a second init (tini in the image under ECS's) in between.
    const entrypoint = instructions.find((l) => l.startsWith('ENTRYPOINT '));
    expect(JSON.parse(entrypoint!.slice('ENTRYPOINT '.length))[0]).toBe('node');
    expect(text).not.toMatch(/\b(tini|dumb-init)\b/);
    const stack = new Stack(new App(), 'Init');
    // The Linux parameters every backup, restore and drill container is given (infra/fargate.ts).
    expect(taskLinuxParameters(stack).renderLinuxParameters().initProcessEnabled).toBe(true);
    // The smoke test runs the image the same way (docker run --init).
    const smoke = readFileSync(path.join(ROOT, 'scripts/task-image-smoke.sh'), 'utf8');
    expect(smoke).toMatch(/^run=\(docker run --rm --init /m);
  });
});

/** The base image and the architectures (issue 13 §1: pinned base, linux/arm64 next to amd64). */
describe('task image base and architectures', () => {
  const text = readFileSync(path.join(ROOT, 'task-image/Dockerfile'), 'utf8');
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const layer = (instructions.find((l) => /apt-get install/.test(l)) ?? '').replace(/\s+/g, ' ');
  /** The body of each `case "$arch"` branch, by pattern. */
  const branches = Object.fromEntries(
    [...(/case "\$arch" in (.*?) esac;/.exec(layer)?.[1] ?? '').matchAll(/(\S+)\)(.*?);;/g)].map((m) => [
      m[1],
      m[2]!.trim(),
    ]),
  );

  it('builds on one base image pinned by the digest of its multi-arch index, Debian 12 by name', () => {
    // Bug caught: a floating tag (a rebuild silently gets another Node, Debian or glibc), or a
    // Debian release other than the one the MongoDB repository line names (bookworm).
    const froms = instructions.filter((l) => l.startsWith('FROM '));
    expect(froms).toHaveLength(1);
    expect(froms[0]).toMatch(/^FROM node:22-bookworm-slim@sha256:[0-9a-f]{64}$/);
    expect(layer).toContain('https://repo.mongodb.org/apt/debian bookworm/mongodb-org/8.0 main');
  });

  it('handles amd64 and arm64 by the target architecture, and refuses any other', () => {
    // Bug caught: an arm64 build that asks apt for mongodb-database-tools (MongoDB publishes no
    // Debian 12 arm64 package, so the build fails), or an unknown architecture that builds an
    // image without mongodump.
    expect(layer).toMatch(/^RUN set -eux; arch="\$\{TARGETARCH:-\$\(dpkg --print-architecture\)\}";/);
    expect(instructions).toContain('ARG TARGETARCH');
    expect(Object.keys(branches)).toEqual(['amd64', 'arm64', '*']);
    expect(branches['amd64']).toBe('mongo_pkgs="mongodb-database-tools"');
    expect(branches['*']).toMatch(/exit 1$/);
    expect(layer).toMatch(
      /apt-get install -y --no-install-recommends \$pkgs .* \$mongo_pkgs mongodb-mongosh;/,
    );
    // Both architectures end with the tools runnable, in the same layer.
    expect(layer).toMatch(/; mongodump --version; mongorestore --version$/);
  });

  it('installs the arm64 tools from the signed Ubuntu 22.04 arm64 tarball, verified before use', () => {
    // Bug caught: a tarball used without its signature checked (a tampered download would dump
    // every database), a signature checked against any key rather than MongoDB's tools key, or
    // the gssapi library the tools link against missing.
    const arm = branches['arm64'] ?? '';
    const version = /^ARG MONGODB_TOOLS_VERSION=(\d+\.\d+\.\d+)$/m.exec(text)?.[1];
    const key = /^ARG MONGODB_TOOLS_KEY=([0-9A-F]{40})$/m.exec(text)?.[1];
    expect(version).toBeDefined();
    expect(key).toBe('D4E45C292A5C94962F0D10E13132835C1D925D5B');
    /** A shell variable reference, as the Dockerfile writes it. */
    const v = (name: string) => `$\{${name}}`;
    expect(arm).toContain(`tgz="mongodb-database-tools-ubuntu2204-arm64-${v('MONGODB_TOOLS_VERSION')}.tgz"`);
    expect(arm).toContain('"https://fastdl.mongodb.org/tools/db/$tgz"');
    expect(arm).toContain('"https://fastdl.mongodb.org/tools/db/$tgz.sig"');
    expect(arm).toContain('curl -fsSL https://pgp.mongodb.com/server-Tools.asc | gpg --batch --import');
    const verify = arm.indexOf(
      `gpg --batch --status-fd 1 --verify "/tmp/$tgz.sig" "/tmp/$tgz" | grep -q "VALIDSIG ${v('MONGODB_TOOLS_KEY')} "`,
    );
    const extract = arm.indexOf(
      "tar -xzf \"/tmp/$tgz\" -C /usr/local/bin --strip-components=2 --wildcards '*/bin/mongodump' '*/bin/mongorestore'",
    );
    expect(verify).toBeGreaterThan(-1);
    expect(extract).toBeGreaterThan(verify);
    expect(arm).toMatch(/^mongo_pkgs="libgssapi-krb5-2";/);
  });
});
