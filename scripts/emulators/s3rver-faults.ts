/**
 * Faults the s3rver harness can inject, as Koa middleware in front of s3rver: requests held
 * until released, requests answered with an S3 error, and CreateMultipartUpload answers lost
 * after the upload was made.
 */
import { type KoaMiddleware, s3Error } from './s3rver-koa.ts';

/** Which requests a hold applies to (see {@link S3rverHandle.holdRequests}). */
export type RequestMatcher = (request: {
  method: string;
  path: string;
  query: FailedRequestMatch['query'];
}) => boolean;

/** Matchers for the multipart calls, by their HTTP shape. */
export const S3_CALLS = {
  uploadPart: (r) => r.method === 'PUT' && 'partNumber' in r.query,
  abortMultipartUpload: (r) => r.method === 'DELETE' && 'uploadId' in r.query,
  completeMultipartUpload: (r) => r.method === 'POST' && 'uploadId' in r.query,
  any: () => true,
} as const satisfies Record<string, RequestMatcher>;

/** Keeps matching requests waiting while their hold is in place. */
export class RequestGate {
  private readonly holds = new Set<{ which: RequestMatcher; released: Promise<void> }>();

  hold(which: RequestMatcher): { release(): void } {
    let release!: () => void;
    const entry = { which, released: new Promise<void>((resolve) => (release = resolve)) };
    this.holds.add(entry);
    return {
      release: () => {
        this.holds.delete(entry);
        release();
      },
    };
  }

  middleware(): KoaMiddleware {
    return async (ctx, next) => {
      for (const entry of [...this.holds]) {
        if (entry.which({ method: ctx.method, path: ctx.path, query: ctx.query })) await entry.released;
      }
      await next();
    };
  }
}

/** Keeps UploadPart requests waiting while a hold is in place. */
export class PartGate {
  private held: Promise<void> | undefined;
  private releaseHeld: (() => void) | undefined;

  hold(): { release(): void } {
    this.held ??= new Promise((resolve) => {
      this.releaseHeld = resolve;
    });
    return {
      release: () => {
        this.releaseHeld?.();
        this.held = undefined;
      },
    };
  }

  middleware(): KoaMiddleware {
    return async (ctx, next) => {
      if (this.held && ctx.method === 'PUT' && 'partNumber' in ctx.query) await this.held;
      await next();
    };
  }
}

/** What {@link S3rverHandle.failRequests} matches on. */
export interface FailedRequestMatch {
  readonly method: string;
  /** `/bucket/key…`, as received (percent-encoded). */
  readonly path: string;
  readonly query: Readonly<Record<string, string | string[] | undefined>>;
}

/** Answers matching requests with an S3 error while a rule is in place. */
export class InjectedFailures {
  private rule:
    | {
        match: (request: FailedRequestMatch) => boolean;
        answer: { status: number; code: string; message?: string };
        remaining: number;
      }
    | undefined;

  set(
    match: (request: FailedRequestMatch) => boolean,
    answer: { status: number; code: string; message?: string },
    count: number,
  ): { restore(): void } {
    const rule = { match, answer, remaining: count };
    this.rule = rule;
    return {
      restore: () => {
        if (this.rule === rule) this.rule = undefined;
      },
    };
  }

  middleware(): KoaMiddleware {
    return async (ctx, next) => {
      const rule = this.rule;
      if (
        !rule ||
        rule.remaining <= 0 ||
        !rule.match({ method: ctx.method, path: ctx.path, query: ctx.query })
      ) {
        return next();
      }
      rule.remaining -= 1;
      s3Error(
        ctx,
        rule.answer.status,
        rule.answer.code,
        rule.answer.message ?? `injected ${rule.answer.code}`,
      );
    };
  }
}

/** Drops the connection of each CreateMultipartUpload after s3rver made the upload, while `on`. */
export class LostCreateAnswers {
  /** How many more answers to lose. */
  remaining = 0;

  middleware(): KoaMiddleware {
    return async (ctx, next) => {
      await next();
      const [, ...keyParts] = ctx.path.split('/').filter(Boolean);
      if (this.remaining > 0 && ctx.method === 'POST' && keyParts.length > 0 && 'uploads' in ctx.query) {
        this.remaining -= 1;
        ctx.res.socket?.destroy();
      }
    };
  }
}
