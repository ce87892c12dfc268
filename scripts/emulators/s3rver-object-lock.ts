/**
 * Object Lock for the s3rver harness, which has none: s3rver accepts the lock headers of
 * PutObject and CreateMultipartUpload and forgets them. This remembers them per key (and locks
 * a test sets directly, as a bucket's default retention or a legal hold would), and reports
 * them in HeadObject's answer the way S3 does, so a prune can be tested end to end. Deletes are
 * not refused: the tests assert that no delete of a locked key was ever sent.
 */

/** The lock of one object, as S3 reports it. */
export interface EmulatedLock {
  readonly mode?: 'GOVERNANCE' | 'COMPLIANCE';
  readonly retainUntil?: Date;
  readonly legalHold?: boolean;
}

/** The part of a Koa context this uses. */
interface LockContext {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string | string[] | undefined>;
  readonly headers: Record<string, string | string[] | undefined>;
  status: number;
  set(field: string, value: string): void;
}

function header(ctx: LockContext, name: string): string | undefined {
  const value = ctx.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The remembered locks of every bucket, by `/bucket/key` path (as received, percent-encoded). */
export class ObjectLocks {
  private readonly locks = new Map<string, EmulatedLock>();

  /** Locks `key` of `bucket` (replacing what it had). */
  set(bucket: string, key: string, lock: EmulatedLock): void {
    this.locks.set(`/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`, lock);
  }

  /** Records the lock headers of object writes; answers HeadObject with the object's lock. */
  middleware(): (ctx: LockContext, next: () => Promise<void>) => Promise<void> {
    return async (ctx, next) => {
      const [, ...keyParts] = ctx.path.split('/').filter(Boolean);
      const creating =
        keyParts.length > 0 &&
        ((ctx.method === 'PUT' && !('partNumber' in ctx.query)) ||
          (ctx.method === 'POST' && 'uploads' in ctx.query));
      await next();
      if (creating && ctx.status === 200) {
        const mode = header(ctx, 'x-amz-object-lock-mode');
        const until = header(ctx, 'x-amz-object-lock-retain-until-date');
        const hold = header(ctx, 'x-amz-object-lock-legal-hold');
        if (mode || until || hold) {
          this.locks.set(ctx.path, {
            ...(mode && { mode: mode as 'GOVERNANCE' | 'COMPLIANCE' }),
            ...(until && { retainUntil: new Date(until) }),
            ...(hold === 'ON' && { legalHold: true }),
          });
        } else if (ctx.method === 'PUT') {
          this.locks.delete(ctx.path);
        }
      }
      const lock = this.locks.get(ctx.path);
      if (ctx.method === 'HEAD' && keyParts.length > 0 && ctx.status === 200 && lock) {
        if (lock.mode) ctx.set('x-amz-object-lock-mode', lock.mode);
        if (lock.retainUntil) ctx.set('x-amz-object-lock-retain-until-date', lock.retainUntil.toISOString());
        if (lock.legalHold) ctx.set('x-amz-object-lock-legal-hold', 'ON');
      }
    };
  }
}
