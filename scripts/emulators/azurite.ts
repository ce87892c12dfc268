/**
 * An Azure Blob endpoint for tests: Azurite (Microsoft's emulator, from npm) in a child
 * process on 127.0.0.1, on a free port, data in memory (its workspace files in a temp
 * directory that is removed on stop). Readiness is awaited by polling the endpoint until it
 * answers HTTP, never by a fixed sleep.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { BlobServiceClient } from '@azure/storage-blob';

/** Azurite's well-known development account (public, the same in every Azurite). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** The env variable a CLI run reads the connection string from, as {@link azuriteDestination} names it. */
export const AZURITE_CONNECTION_STRING_ENV = 'DV_AZURE_CONNECTION_STRING';

export interface AzuriteHandle {
  /** `http://127.0.0.1:<port>/devstoreaccount1`: the account URL (`accountUrl` in the config). */
  readonly accountUrl: string;
  readonly port: number;
  /** A connection string for the development account at this endpoint. */
  readonly connectionString: string;
  /** A client with the development account's key. */
  readonly service: BlobServiceClient;
  /** The environment a CLI run needs for {@link azuriteDestination}. */
  readonly env: Readonly<Record<string, string>>;
  /** Creates `name` (if missing) and returns it. */
  createContainer(name: string): Promise<string>;
  /**
   * Names of the blobs in `container` that have uncommitted blocks only (what a failed block
   * upload would leave): they are listed only when uncommitted blobs are asked for.
   */
  uncommittedBlobs(container: string): Promise<string[]>;
  /** Every committed blob name in `container`. */
  blobs(container: string): Promise<string[]>;
  /** Stops the emulator and removes its workspace. */
  stop(): Promise<void>;
}

/** A dumpvault `azure` destination on `container`: connection string from {@link AzuriteHandle.env}, 1 MiB blocks. */
export function azuriteDestination(
  container: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    type: 'azure',
    container,
    connectionStringEnv: AZURITE_CONNECTION_STRING_ENV,
    blockSizeMiB: 1,
    ...extra,
  };
}

/** A port nobody listens on right now (the OS's choice). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

/** Resolves once `url` answers any HTTP status; rejects when `child` exited first or `deadline` passes. */
async function waitForHttp(url: string, child: ChildProcess, deadlineMs: number): Promise<void> {
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`azurite exited with code ${String(code)} before it answered`);
  });
  exited.catch(() => {});
  const started = Date.now();
  for (;;) {
    const answered = await Promise.race([
      new Promise<boolean>((resolve) => {
        const req = request(url, { method: 'GET', timeout: 2_000 }, (res) => {
          res.resume();
          resolve(true);
        });
        req.on('error', () => resolve(false));
        req.on('timeout', () => req.destroy());
        req.end();
      }),
      exited,
    ]);
    if (answered) return;
    if (Date.now() - started > deadlineMs)
      throw new Error(`azurite did not answer at ${url} within ${deadlineMs} ms`);
    // A short pause between polls, not a wait for readiness: the loop ends at the first answer.
    await delay(50);
  }
}

/**
 * Starts Azurite's blob service on 127.0.0.1 with a free port, in memory. A port taken between
 * choosing it and Azurite binding it is retried with another.
 */
export async function startAzurite(options: { readyTimeoutMs?: number } = {}): Promise<AzuriteHandle> {
  const main = join(
    dirname(createRequire(import.meta.url).resolve('azurite/package.json')),
    'dist/src/blob/main.js',
  );
  const workspace = await mkdtemp(join(tmpdir(), 'dumpvault-azurite-'));
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    child = spawn(
      process.execPath,
      [
        main,
        '--blobHost',
        '127.0.0.1',
        '--blobPort',
        String(port),
        '--inMemoryPersistence',
        '--silent',
        '--disableTelemetry',
        '--skipApiVersionCheck',
        '--loose',
      ],
      // In memory: the temp directory is only its working directory, in case it writes anything.
      { cwd: workspace, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const stderr: Buffer[] = [];
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    try {
      await waitForHttp(
        `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}?comp=list`,
        child,
        options.readyTimeoutMs ?? 60_000,
      );
      break;
    } catch (err) {
      child.kill('SIGKILL');
      if (attempt >= 3) {
        await rm(workspace, { recursive: true, force: true });
        const output = Buffer.concat(stderr).toString('utf8').trim();
        throw new Error(`${(err as Error).message}${output ? `: ${output}` : ''}`);
      }
    }
  }
  const running = child;
  const accountUrl = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_ACCOUNT_KEY};BlobEndpoint=${accountUrl};`;
  const service = BlobServiceClient.fromConnectionString(connectionString);
  const list = async (
    container: string,
    uncommitted: boolean,
  ): Promise<{ name: string; committed: boolean }[]> => {
    const out: { name: string; committed: boolean }[] = [];
    for await (const blob of service
      .getContainerClient(container)
      .listBlobsFlat({ includeUncommitedBlobs: uncommitted })) {
      // An uncommitted blob is listed without a committed length (Content-Length absent or 0 and no ETag).
      out.push({
        name: blob.name,
        committed: blob.properties.etag !== undefined && blob.properties.etag !== '',
      });
    }
    return out;
  };
  return {
    accountUrl,
    port,
    connectionString,
    service,
    env: { [AZURITE_CONNECTION_STRING_ENV]: connectionString },
    async createContainer(name) {
      await service.getContainerClient(name).createIfNotExists();
      return name;
    },
    async uncommittedBlobs(container) {
      const committed = new Set((await list(container, false)).map((b) => b.name));
      return (await list(container, true)).map((b) => b.name).filter((name) => !committed.has(name));
    },
    async blobs(container) {
      return (await list(container, false)).map((b) => b.name);
    },
    async stop() {
      if (running.exitCode === null && running.signalCode === null) {
        const exited = once(running, 'exit');
        running.kill('SIGTERM');
        await exited;
      }
      await rm(workspace, { recursive: true, force: true });
    },
  };
}
