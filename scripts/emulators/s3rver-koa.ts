/**
 * The Koa side of s3rver that the harness's added middleware uses: the part of a Koa context
 * it reads and writes, and an S3 error answer.
 */
import type { ServerResponse } from 'node:http';

/** The part of a Koa context the added calls use. */
export interface KoaContext {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string | string[] | undefined>;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly res: ServerResponse;
  status: number;
  body: unknown;
  set(field: string, value: string): void;
}
export type KoaNext = () => Promise<void>;
export type KoaMiddleware = (ctx: KoaContext, next: KoaNext) => Promise<void>;

/** Answers the request with an S3 error document (`<Error><Code>…`). */
export function s3Error(ctx: KoaContext, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.body = { Error: { Code: code, Message: message } };
}
