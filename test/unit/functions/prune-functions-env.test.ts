/**
 * task-stopped reads which prune function serves which job from DUMPVAULT_PRUNE_FUNCTIONS, JSON
 * the construct writes (infra/pruning.ts), parsed with the schema in core/contracts/prune.ts.
 * Bug caught: the JSON was cast, not checked, so a malformed value failed later as "no prune
 * function is deployed for job …" or a TypeError, instead of naming the variable.
 */
import { describe, expect, it } from 'vitest';
import { PRUNE_FUNCTIONS_ENV, PruneFunctionsSchema } from '../../../core/contracts/prune.ts';
import { requireEnvJson } from '../../../functions/logic/environment.ts';

describe('requireEnvJson with the prune functions schema', () => {
  it('reads the job to prune function map the construct writes', () => {
    const env = { [PRUNE_FUNCTIONS_ENV]: JSON.stringify({ app: 'DumpVault-PruneApp-1A2B' }) };

    expect(requireEnvJson(PRUNE_FUNCTIONS_ENV, PruneFunctionsSchema, env)).toEqual({
      app: 'DumpVault-PruneApp-1A2B',
    });
  });

  it.each([
    [undefined, /DUMPVAULT_PRUNE_FUNCTIONS is not set/],
    ['{', /DUMPVAULT_PRUNE_FUNCTIONS is not valid JSON/],
    ['["app"]', /DUMPVAULT_PRUNE_FUNCTIONS: expected a JSON object of job names to prune function names/],
    ['{"app": 7}', /DUMPVAULT_PRUNE_FUNCTIONS: expected a JSON object/],
  ])('fails naming the variable when it is %j', (value, message) => {
    const env = value === undefined ? {} : { [PRUNE_FUNCTIONS_ENV]: value };

    expect(() => requireEnvJson(PRUNE_FUNCTIONS_ENV, PruneFunctionsSchema, env)).toThrow(message);
  });
});
