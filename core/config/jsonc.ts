/**
 * Comments in the config file: `dumpvault init` writes a commented example, so the loader
 * accepts `//` and `/* *\/` comments and trailing commas. jsonc-parser (the parser of VS Code's
 * settings files) reads them; a hand-written stripper once rewrote strings that held `,}`.
 */
import { type ParseError, parse, printParseErrorCode } from 'jsonc-parser';
import { ConfigError } from '../errors.ts';

const MESSAGES: Record<ReturnType<typeof printParseErrorCode>, string> = {
  InvalidSymbol: 'unexpected character',
  InvalidNumberFormat: 'malformed number',
  PropertyNameExpected: 'expected a property name in double quotes',
  ValueExpected: 'expected a value',
  ColonExpected: 'expected ":"',
  CommaExpected: 'expected ","',
  CloseBraceExpected: 'expected "}"',
  CloseBracketExpected: 'expected "]"',
  EndOfFileExpected: 'expected the end of the file',
  InvalidCommentToken: 'malformed comment',
  UnexpectedEndOfComment: 'a /* comment is not closed',
  UnexpectedEndOfString: 'a string is not closed',
  UnexpectedEndOfNumber: 'a number ends too early',
  InvalidUnicode: 'malformed \\u escape',
  InvalidEscapeCharacter: 'unknown escape sequence',
  InvalidCharacter: 'control character inside a string',
  '<unknown ParseErrorCode>': 'malformed JSON',
};

/** Line and column (both from 1) of a character offset. */
function position(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/**
 * Parses JSON with comments and trailing commas. Throws a {@link ConfigError} naming the first
 * syntax error as `line L, column C: what`, prefixed by `source` (the file name); the errors
 * after it are mostly echoes of the first.
 */
export function parseJsonc(text: string, source: string): unknown {
  const errors: ParseError[] = [];
  const value: unknown = parse(text, errors, {
    allowTrailingComma: true,
    disallowComments: false,
    allowEmptyContent: false,
  });
  const first = errors[0];
  if (first) {
    const at = position(text, first.offset);
    throw new ConfigError(
      `${source} is not valid JSON: line ${at.line}, column ${at.column}: ${MESSAGES[printParseErrorCode(first.error)]}`,
    );
  }
  return value;
}
