/**
 * The relay of a dump tool's raw output to its compressor through Node, for a check that must
 * see every byte (core/process.ts `ThroughSpec.tap`). It is the one place where the whole raw
 * dump passes through this process, so it reads into a few buffers allocated once and reused
 * (`net.Socket`'s `onread`) instead of a fresh buffer per read: fresh memory, not the copy, is
 * the per-byte cost (docs/performance.md, one core).
 *
 * `onread` exists only for sockets this process connects, not for a child's stdout pipe, so the
 * tool writes into a Unix socket: a listener in a private temporary folder (mode 0700) accepts
 * one connection from this process, and the accepted end becomes the tool's stdout. Where that
 * cannot be set up (no writable temporary folder, no Unix sockets), {@link relayStream} relays
 * the child's ordinary stdout pipe instead.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** An observer of a process's raw output (see core/process.ts `ThroughSpec.tap`). */
export interface RawTap {
  /**
   * The next bytes; must not throw. The buffer is reused once the call returns: a tap that keeps
   * bytes for later (a field cut by a read boundary) copies them.
   */
  write(chunk: Buffer): void;
  /** After both processes exited 0; a rejection fails the output. */
  end(): void | Promise<void>;
}

/** The most one read takes (a Unix socket holds ~200 KiB by default). */
const READ_BYTES = 256 * 1024;
/** Buffers in all: one being read into, the others waiting for the filter to take them. */
const BUFFERS = 4;

/** A socket the tool writes its output into, read by this process into reused buffers. */
export interface RelayChannel {
  /** Give it to `spawn` as the tool's stdout, then call {@link RelayChannel.spawned}. */
  readonly toolEnd: net.Socket;
  /** Closes this process's copy of the tool's end (the child has its own), so that its exit ends the relay. */
  spawned(): void;
  /**
   * Relays what the tool writes into `sink` through `tap`, with backpressure, and ends `sink`
   * at the end of the tool's output. When `sink` goes away (the filter died), reading stops
   * and the tool gets a broken pipe.
   */
  relay(sink: Writable, tap: RawTap): void;
  /** Closes both ends: the tool was not started, or the output was given up first. */
  close(): void;
}

/**
 * Opens a {@link RelayChannel}; undefined when the system does not allow one here (the caller
 * then relays the tool's stdout pipe with {@link relayStream}).
 */
export async function openRelayChannel(): Promise<RelayChannel | undefined> {
  let dir: string | undefined;
  let server: net.Server | undefined;
  let reader: net.Socket | undefined;
  try {
    dir = await mkdtemp(path.join(tmpdir(), 'dumpvault-relay-'));
    const address = path.join(dir, 's');
    server = net.createServer();
    server.listen(address);
    await once(server, 'listening');
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const free: Buffer[] = Array.from({ length: BUFFERS }, () => Buffer.allocUnsafeSlow(READ_BYTES));
    let onChunk: (n: number, buf: Buffer) => boolean = () => true;
    reader = net.connect({
      path: address,
      onread: {
        // Called once when the socket opens and after every read; `onChunk` leaves one free.
        buffer: () => free.pop() as Buffer,
        callback: (n, buf) => onChunk(n, buf as Buffer),
      },
    });
    const [[toolEnd]] = await Promise.all([accepted, once(reader, 'connect')]);
    const source = reader;
    return {
      toolEnd,
      spawned: () => toolEnd.destroy(),
      relay(sink, tap) {
        sink.on('error', () => {}); // EPIPE when the filter dies: its exit code says why
        let paused = false;
        const release = (buf: Buffer) => {
          free.push(buf);
          if (paused) {
            paused = false;
            source.resume();
          }
        };
        onChunk = (n, buf) => {
          const chunk = buf.subarray(0, n);
          tap.write(chunk);
          sink.write(chunk, () => release(buf));
          if (free.length > 1) return true;
          paused = true; // the last free buffer is the next read's: wait for the filter
          return false;
        };
        // What the tap saw is exactly what the filter got: a read error ends both short.
        source.on('error', () => sink.destroy());
        source.once('end', () => sink.end());
        sink.once('close', () => source.destroy());
      },
      close: () => {
        toolEnd.destroy();
        source.destroy();
      },
    };
  } catch {
    reader?.destroy();
    return undefined;
  } finally {
    server?.close();
    if (dir) await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * Relays `source` into `sink` through `tap`, with backpressure (the fallback of
 * {@link openRelayChannel}). When the sink goes away (the filter died), the source is destroyed
 * so the process writing it gets a broken pipe.
 */
export function relayStream(source: Readable, sink: Writable, tap: RawTap): void {
  sink.on('error', () => {}); // EPIPE when the filter dies: its exit code says why
  source.on('data', (chunk: Buffer) => {
    tap.write(chunk);
    if (!sink.write(chunk)) {
      source.pause();
      sink.once('drain', () => source.resume());
    }
  });
  source.once('end', () => sink.end());
  sink.once('close', () => {
    if (!source.readableEnded) source.destroy();
  });
}
