import { describe, expect, it } from 'vitest';
import { cpuList, parseAffinityMask, pinGroups, pinnedArgv } from '../../../scripts/bench/pinning.ts';

describe('pinGroups', () => {
  it('gives one client core on two cores, with the other core for the servers', () => {
    expect(pinGroups(2)).toEqual([{ name: 'one-core', client: [1], server: [0] }]);
  });

  it('adds two client cores from four cores up, never sharing a core with the servers', () => {
    const groups = pinGroups(4);
    expect(groups.map((g) => g.name)).toEqual(['one-core', 'two-core']);
    expect(groups[1]).toMatchObject({ client: [1, 2], server: [0, 3] });
    for (const g of pinGroups(8)) expect(g.client.filter((c) => g.server.includes(c))).toEqual([]);
  });

  it('pins nothing on one core or on three (two-core needs two left for the servers)', () => {
    expect(pinGroups(1)).toEqual([]);
    expect(pinGroups(3).map((g) => g.name)).toEqual(['one-core']);
  });
});

describe('taskset helpers', () => {
  it('starts the command under taskset -c with the client cores', () => {
    expect(pinnedArgv(pinGroups(4)[1]!, ['node', 'cli.mjs'])).toEqual([
      'taskset',
      '-c',
      '1,2',
      'node',
      'cli.mjs',
    ]);
    expect(cpuList([0, 3, 4])).toBe('0,3,4');
  });

  it('reads the mask taskset -p prints, and fails on anything else', () => {
    expect(parseAffinityMask("pid 3796's current affinity mask: 3\n")).toBe('3');
    expect(parseAffinityMask("pid 1's current affinity mask: ff,ffffffff")).toBe('ff,ffffffff');
    expect(() => parseAffinityMask('taskset: failed to get pid 9 affinity')).toThrow(/affinity mask/);
  });
});
