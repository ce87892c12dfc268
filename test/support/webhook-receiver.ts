/**
 * A real HTTP receiver on loopback (port 0) for webhook channels: records every POST (path and
 * parsed JSON body) and answers with the statuses the test queues (200 when none is queued).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly path: string;
  readonly body: Record<string, unknown>;
  readonly status: number;
}

export interface WebhookReceiver {
  /** `http://127.0.0.1:<port><path>` */
  url(path?: string): string;
  /** Every request so far, oldest first. */
  readonly requests: ReceivedRequest[];
  /** The requests to `path` that were answered 2xx. */
  delivered(path: string): Record<string, unknown>[];
  /** Answers the next requests with these statuses, in order. */
  answer(...statuses: number[]): void;
  stop(): Promise<void>;
}

/** Starts a receiver on 127.0.0.1 and an ephemeral port. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const requests: ReceivedRequest[] = [];
  const queued: number[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = queued.shift() ?? 200;
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        body = { unparsable: Buffer.concat(chunks).toString('utf8') };
      }
      requests.push({ path: req.url ?? '/', body, status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path = '/') => `http://127.0.0.1:${port}${path}`,
    requests,
    delivered: (path) => requests.filter((r) => r.path === path && r.status < 300).map((r) => r.body),
    answer: (...statuses) => queued.push(...statuses),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
