/**
 * The webhook channel and its retries against a real HTTP server on loopback: a receiver that
 * never answers is a failure after `timeoutSeconds`, retried; failed attempts are retried after
 * pauses that double; an answer that cannot change (404) is not retried.
 * Bugs caught: a webhook POST that waits for an answer forever (no timeout: serve's digest and
 * every alert behind it hang); retries without backoff, or retries of a permanent refusal.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NotifyError, type NotifyEvent } from '../../../core/notify/notifier.ts';
import { sendWithRetries } from '../../../core/notify/retry.ts';
import { WebhookChannel } from '../../../core/notify/webhook.ts';

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** A loopback server answering each request with `answer`; returns its URL. */
async function receiver(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(req, res));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

const event: NotifyEvent = {
  type: 'alert',
  job: 'app',
  kind: 'backup',
  status: 'FAILED',
  runId: 'r1',
  subject: 'dumpvault: backup of app FAILED',
  body: 'Job: app',
};

const channel = (url: string, timeoutMs = 10_000, retries = 3) =>
  new WebhookChannel({ label: 'webhook ops', url: async () => url, format: 'json', timeoutMs, retries });

describe('WebhookChannel', () => {
  it('fails a POST the receiver never answers once timeoutSeconds have passed, as a failure worth retrying', async () => {
    const url = await receiver(() => {}); // reads the request, never answers

    const sent = channel(url, 300).send(event);

    await expect(sent).rejects.toThrow(new NotifyError('POST failed: no answer within 0.3 s'));
    await expect(sent).rejects.toMatchObject({ permanent: false });
  });
});

describe('sendWithRetries', () => {
  it('retries a failed delivery after pauses that double, until it is delivered', async () => {
    let calls = 0;
    const url = await receiver((_req, res) => res.writeHead(++calls <= 3 ? 503 : 200).end());
    const pauses: number[] = [];
    const log: string[] = [];

    await sendWithRetries(channel(url), event, {
      log: (line) => log.push(line),
      baseDelayMs: 100,
      sleep: async (ms) => {
        pauses.push(ms);
      },
    });

    expect(calls).toBe(4);
    expect(pauses).toEqual([100, 200, 400]);
    expect(log.at(-1)).toBe('notify webhook ops: delivered on attempt 4');
  });

  it('gives up after the channel retries, and never retries an answer that cannot change (404)', async () => {
    const notFound = await receiver((_req, res) => res.writeHead(404).end());
    const unavailable = await receiver((_req, res) => res.writeHead(503).end());
    const pauses: number[] = [];
    const options = {
      log: () => {},
      sleep: async (ms: number) => {
        pauses.push(ms);
      },
    };

    await expect(sendWithRetries(channel(notFound), event, options)).rejects.toMatchObject({
      permanent: true,
    });
    expect(pauses).toEqual([]);

    await expect(sendWithRetries(channel(unavailable, 10_000, 2), event, options)).rejects.toThrow(
      'HTTP 503',
    );
    expect(pauses).toEqual([1000, 2000]); // the default first pause, then doubled
  });
});
