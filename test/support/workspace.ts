/**
 * A throw-away dumpvault workspace: a temp dir with a config file, an OpenPGP keypair and
 * helpers to read what the runs left behind (backups, history, alerts).
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKeyPair } from '../../core/crypto/openpgp.ts';

export interface Workspace {
  readonly dir: string;
  readonly configFile: string;
  readonly publicKey: string;
  readonly privateKey: string;
  readonly fingerprint: string;
  /** Writes the config (an object) to the workspace. */
  writeConfig(config: unknown): Promise<void>;
  /** Every file below `sub` (relative paths), recursively. */
  files(sub: string): Promise<string[]>;
  /** Everything a run could have written to disk in the workspace, concatenated (for secret greps). */
  everything(): Promise<string>;
  remove(): Promise<void>;
}

let cachedKeys: Promise<{ publicKey: string; privateKey: string; fingerprint: string }> | undefined;

async function walk(dir: string): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(full)));
    else out.push(full);
  }
  return out;
}

/** Creates a workspace with keys in `keys/` (one keypair per test process, generated once). */
export async function createWorkspace(): Promise<Workspace> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dumpvault-ws-'));
  cachedKeys ??= generateKeyPair({ name: 'dumpvault test', email: 'test@dumpvault.invalid' });
  const keys = await cachedKeys;
  const publicKey = path.join(dir, 'keys', 'ops.pub.asc');
  const privateKey = path.join(dir, 'keys', 'ops.private.asc');
  await import('node:fs/promises').then((fs) => fs.mkdir(path.join(dir, 'keys'), { recursive: true }));
  await writeFile(publicKey, keys.publicKey);
  await writeFile(privateKey, keys.privateKey, { mode: 0o600 });
  const configFile = path.join(dir, 'dumpvault.config.json');
  return {
    dir,
    configFile,
    publicKey,
    privateKey,
    fingerprint: keys.fingerprint,
    writeConfig: (config) => writeFile(configFile, JSON.stringify(config, null, 2)),
    files: async (sub) =>
      (await walk(path.join(dir, sub))).map((f) => path.relative(path.join(dir, sub), f)).sort(),
    async everything() {
      const files = await walk(dir);
      const texts = await Promise.all(
        files
          .filter((f) => !f.includes(`${path.sep}keys${path.sep}`))
          .map((f) => readFile(f).then((b) => b.toString('latin1'))),
      );
      return texts.join('\n');
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
