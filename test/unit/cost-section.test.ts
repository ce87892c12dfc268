/**
 * The cost section of docs/aws.md (issue 13 §3) keeps the items a platform team budgets for,
 * each with its rate's source. Bug caught: a row dropped or its source lost in an edit (the
 * NAT gateway, the largest fixed cost, or Spot's price next to the option that uses it).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const aws = readFileSync(path.join(import.meta.dirname, '..', '..', 'docs', 'aws.md'), 'utf8');
const section = aws.slice(
  aws.indexOf('## What it costs'),
  aws.indexOf('\n## ', aws.indexOf('## What it costs') + 1),
);
/** The rate table's rows: item → the row's cells. */
const rows = new Map(
  section
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| item') && !l.startsWith('|---'))
    .map((l) => l.split('|').map((c) => c.trim()))
    .map((cells) => [cells[1]!, cells.slice(2, -1)] as const),
);
const row = (item: RegExp) => [...rows].find(([name]) => item.test(name))?.[1];

describe('docs/aws.md: what it costs', () => {
  it('prices every item with an AWS pricing page as its source', () => {
    const items = [
      /^NAT gateway$/,
      /^Fargate, Linux\/x86$/,
      /^Fargate, Linux\/ARM/,
      /^Fargate Spot$/,
      /^S3 Standard/,
      /^KMS$/,
      /^CloudWatch$/,
      /^Container Insights/,
      /^Step Functions/,
    ];
    for (const item of items) {
      const cells = row(item);
      expect(cells, String(item)).toBeDefined();
      expect(cells!.at(-1), String(item)).toMatch(/^aws\.amazon\.com\/[a-z0-9-]+\/pricing$/);
    }
  });

  it('gives a backup-hour on 1 vCPU for x86, ARM and Spot, and CloudWatch alarms and the dashboard', () => {
    expect(row(/^Fargate, Linux\/x86$/)?.join(' ')).toMatch(/1 vCPU \/ 2 GB .*\$0\.0494 per backup-hour/);
    expect(row(/^Fargate, Linux\/ARM/)?.join(' ')).toMatch(/\$0\.0395 per backup-hour/);
    expect(row(/^Fargate Spot$/)?.join(' ')).toMatch(
      /50–70 %.*1 vCPU \/ 2 GB backup-hour ≈ \$0\.015–0\.025 on x86/,
    );
    expect(row(/^CloudWatch$/)?.join(' ')).toMatch(/alarm .*dashboard/);
    expect(section).toMatch(/With `aws\.task\.spot` the Fargate line of this example drops/);
  });
});
