/**
 * A synth from the sources (this repository's `cdk synth`, through tsx) leaves nothing in the
 * system temp folder (issue 13 §2): each fixture is built and synthesized with os.tmpdir()
 * pointing at an empty folder of its own (test/infra/support/synthesized.ts), looked at
 * afterwards. test/infra/consumer.test.ts checks the same for the packed package.
 *
 * Bug caught: Lambda bundles or the task image's Docker build context staged in
 * `dumpvault-functions-*` folders under /tmp (~97 MB a synth, never removed) instead of the
 * app's output directory.
 */
import { describe, expect, it } from 'vitest';
import { SYNTH_TIMEOUT_MS, synthesized } from './support/synthesized.ts';

describe('a synth from the sources', () => {
  it.each(['readme', 'restore', 'variants'] as const)(
    'leaves nothing in the system temp folder (fixture %s)',
    async (name) => {
      const synth = await synthesized(name);

      expect(synth.synthError).toBeUndefined();
      expect(synth.tempLeftovers).toEqual([]);
    },
    SYNTH_TIMEOUT_MS,
  );
});
