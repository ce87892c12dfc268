/**
 * EventBridge's event-pattern matching, for the operators dumpvault's rules use: a field's array
 * of alternatives (exact strings, `{prefix}`, `{suffix}`, `{wildcard}`), nested objects (every
 * named field must match; fields the pattern does not name are ignored). As documented in the
 * EventBridge user guide ("Event patterns", "Content filtering"): alternatives in one array are
 * ORed, fields are ANDed, and in a `wildcard` value `*` matches any run of characters (`/`
 * included) and `\*` a literal star. Anything else throws, so a test never passes on an
 * operator this does not model.
 */
type Pattern = { readonly [field: string]: Pattern | readonly unknown[] };

function wildcardMatches(pattern: string, value: string): boolean {
  let body = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && (pattern[i + 1] === '*' || pattern[i + 1] === '\\')) body += `\\${pattern[++i]}`;
    else if (c === '*') body += '.*';
    else body += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${body}$`, 's').test(value);
}

function alternativeMatches(alternative: unknown, value: unknown): boolean {
  if (typeof alternative === 'string' || typeof alternative === 'number') return alternative === value;
  if (alternative && typeof alternative === 'object') {
    const [[operator, operand]] = Object.entries(alternative) as [[string, unknown]];
    if (typeof value !== 'string' || typeof operand !== 'string') return false;
    if (operator === 'prefix') return value.startsWith(operand);
    if (operator === 'suffix') return value.endsWith(operand);
    if (operator === 'wildcard') return wildcardMatches(operand, value);
    throw new Error(`event-pattern operator ${operator} is not modelled`);
  }
  throw new Error(`event-pattern alternative ${JSON.stringify(alternative)} is not modelled`);
}

/** Whether EventBridge would deliver `event` to a rule with `pattern`. */
export function matchesEventPattern(pattern: Pattern, event: unknown): boolean {
  if (!event || typeof event !== 'object') return false;
  const fields = event as Record<string, unknown>;
  return Object.entries(pattern).every(([field, expected]) => {
    const value = fields[field];
    if (Array.isArray(expected)) {
      const values = Array.isArray(value) ? value : [value];
      return values.some((v) => expected.some((alternative) => alternativeMatches(alternative, v)));
    }
    return matchesEventPattern(expected as Pattern, value);
  });
}
