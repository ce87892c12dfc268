/**
 * A throw-away GnuPG home for interop tests against the real gpg CLI (2.2 on this machine):
 * every call runs in batch mode with loopback pinentry, and close() stops the agent it started.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One temporary GNUPGHOME. */
export class GpgHome {
  private constructor(readonly dir: string) {}

  /** Creates an empty GnuPG home in the temp directory (short path: the agent socket lives there). */
  static async create(): Promise<GpgHome> {
    const dir = await mkdtemp(join(tmpdir(), 'dvg-'));
    return new GpgHome(dir);
  }

  /** Runs gpg with `args` and returns its stdout and stderr; rejects when gpg exits non-zero. */
  async gpg(args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
    const child = run('gpg', ['--batch', '--yes', '--no-tty', '--pinentry-mode', 'loopback', ...args], {
      env: { ...process.env, GNUPGHOME: this.dir },
      maxBuffer: 64 * 1024 * 1024,
    });
    if (input !== undefined) {
      child.child.stdin?.end(input);
    }
    return child;
  }

  /** Generates a key in this home (`algo` as for --quick-gen-key) and returns its fingerprint. */
  async generateKey(uid: string, algo: string, passphrase: string): Promise<string> {
    await this.gpg(['--passphrase', passphrase, '--quick-gen-key', uid, algo, 'default', 'never']);
    const { stdout } = await this.gpg(['--with-colons', '--list-secret-keys', uid]);
    const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(stdout)?.[1];
    if (!fpr) throw new Error(`no fingerprint for ${uid} in ${stdout}`);
    return fpr;
  }

  /** Stops the agent and removes the home. */
  async close(): Promise<void> {
    await run('gpgconf', ['--kill', 'all'], { env: { ...process.env, GNUPGHOME: this.dir } }).catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }
}
