/**
 * The field types the config schema is built from: checked strings, whole numbers, names,
 * environment variable names and secret ARNs, each with an error that quotes what it got.
 */
import { z } from 'zod';
import { timeZoneProblem } from '../schedule/index.ts';

/** A value as error messages quote it. */
export const show = (value: unknown): string => (value === undefined ? 'nothing' : JSON.stringify(value));

/** A string checked by a function that says what is wrong with it (the schedule module's checks). */
export const checkedString = (problem: (value: string) => string | undefined) =>
  z.string({ error: (iss) => `expected a string, got ${show(iss.input)}` }).superRefine((value, ctx) => {
    const message = problem(value);
    if (message) ctx.addIssue({ code: 'custom', message });
  });
/** An IANA time zone name. */
export const timeZone = checkedString(timeZoneProblem);

/** A whole number ≥ min whose errors read `expected a whole number ≥ 0, got -1`. */
export const wholeNumber = (min: number) => {
  const error = (iss: { input?: unknown }) => `expected a whole number ≥ ${min}, got ${show(iss.input)}`;
  return z.int({ error }).min(min, { error });
};

/** A string of at least one character whose errors say what was expected. */
export const nonEmpty = (what: string) =>
  z
    .string({ error: (iss) => `expected ${what}, got ${show(iss.input)}` })
    .min(1, { error: `expected ${what}` });

/** Names of jobs and destinations: they appear in object keys, stack ids and metric dimensions. */
export const NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** A job, destination or channel name ({@link NAME_PATTERN}). */
export const name = (what: string) =>
  z.string().regex(NAME_PATTERN, {
    error: (iss) =>
      `expected a ${what} name of lowercase letters, digits and dashes (at most 63), got ${show(iss.input)}`,
  });

/** The name of an environment variable (that holds a secret). */
export const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
  error: (iss) => `expected an environment variable name, got ${show(iss.input)}`,
});
/** A Secrets Manager secret ARN. */
export const secretArn = z.string().regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, {
  error: (iss) => `expected a Secrets Manager secret ARN, got ${show(iss.input)}`,
});

/** When a daily digest goes out: a time of day in a time zone (serve's and the AWS one alike). */
export const DigestTimeSchema = z.strictObject({
  at: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, {
      error: (iss) => `expected a time of day like "08:00", got ${show(iss.input)}`,
    })
    .describe('Time of day (24 h) at which the digest is sent.'),
  timezone: timeZone.default('UTC').describe('IANA time zone of `at`.'),
});
