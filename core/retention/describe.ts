/**
 * Retention in words, for `validate`: what each job keeps is stated before the first backup,
 * so nobody learns the default when an older backup disappears.
 */
import type { JobRetention } from '../config/schema.ts';
import { DEFAULT_RETENTION, RETENTION_FOREVER } from '../contracts/retention.ts';
import { isAgeOnly } from './plan.ts';

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/**
 * One sentence saying which backups a job's retention keeps; `undefined` (no `retention` in
 * the config) says that the default applies and what it is.
 */
export function describeRetention(retention: JobRetention | undefined): string {
  if (retention === undefined) {
    return `no "retention" set: the default keeps only the newest backup (${JSON.stringify({ keepLast: DEFAULT_RETENTION.keepLast })}); set "retention" to keep more, or "forever"`;
  }
  if (retention === RETENTION_FOREVER)
    return 'keeps every backup forever ("forever"): retention deletes nothing';
  const zone = retention.timezone === 'UTC' ? '' : ` (days counted in ${retention.timezone})`;
  if (isAgeOnly(retention)) {
    return `keeps every backup younger than ${plural(retention.maxAgeDays!, 'day')}, and always the newest`;
  }
  const parts = [
    retention.keepLast > 0 ? `the newest ${retention.keepLast}` : undefined,
    retention.daily > 0 ? `one a day for ${plural(retention.daily, 'day')}` : undefined,
    retention.weekly > 0 ? `one a week for ${plural(retention.weekly, 'week')}` : undefined,
    retention.monthly > 0 ? `one a month for ${plural(retention.monthly, 'month')}` : undefined,
    retention.yearly > 0 ? `one a year for ${plural(retention.yearly, 'year')}` : undefined,
  ].filter((p): p is string => p !== undefined);
  const keeps = parts.length > 0 ? `keeps ${parts.join(', ')}${zone}` : 'keeps only the newest backup';
  const cap =
    retention.maxAgeDays !== undefined
      ? `; deletes anything older than ${plural(retention.maxAgeDays, 'day')} except the newest`
      : '';
  return `${keeps}${cap}`;
}
