/**
 * The bench's results as an SVG bar chart: median MB/s per scenario with min–max whiskers.
 */
import type { ScenarioResult } from './report.ts';
import type { Kind } from './scenarios.ts';

const COLORS: Record<Kind, string> = {
  tool: '#8c8c8c',
  shell: '#e08a2c',
  dumpvault: '#2f6fb5',
  fixed: '#2f6fb5',
};

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A horizontal bar chart of median MB/s (whiskers: min–max), one section per engine and direction. */
export function svgChart(all: readonly ScenarioResult[], title: string): string {
  // The fixed-cost row moves no data: it has no MB/s to draw.
  const results = all.filter((r) => r.kind !== 'fixed');
  const rowHeight = 22;
  const labelWidth = 500;
  const chartWidth = 420;
  const maxValue = Math.max(...results.map((r) => r.maxMBps), 1);
  const scale = chartWidth / (Math.ceil(maxValue / 50) * 50);
  const parts: string[] = [];
  let y = 50;
  let section = '';
  for (const r of results) {
    const heading = `${r.engine === 'postgres' ? 'PostgreSQL' : 'MariaDB'} ${r.direction}${r.pin ? `, ${r.pin.name} (client on CPU ${r.pin.clientCpus})` : ''}`;
    if (heading !== section) {
      section = heading;
      y += 8;
      parts.push(`<text x="10" y="${y + 12}" font-weight="bold">${escapeXml(heading)}</text>`);
      y += rowHeight;
    }
    const width = r.medianMBps * scale;
    const label = `${r.label}${r.isDefault ? ' (default)' : ''}`;
    parts.push(
      `<text x="20" y="${y + 15}">${escapeXml(label)}</text>`,
      `<rect x="${labelWidth}" y="${y + 3}" width="${width.toFixed(1)}" height="${rowHeight - 6}" fill="${COLORS[r.kind]}"/>`,
      `<line x1="${(labelWidth + r.minMBps * scale).toFixed(1)}" x2="${(labelWidth + r.maxMBps * scale).toFixed(1)}" y1="${y + rowHeight / 2}" y2="${y + rowHeight / 2}" stroke="#000" stroke-width="1"/>`,
      `<text x="${(labelWidth + Math.max(width, r.maxMBps * scale) + 6).toFixed(1)}" y="${y + 15}">${r.medianMBps.toFixed(0)} MB/s</text>`,
    );
    y += rowHeight;
  }
  const height = y + 40;
  const ticks: string[] = [];
  for (let v = 0; v * scale <= chartWidth; v += 50) {
    const x = labelWidth + v * scale;
    ticks.push(
      `<line x1="${x}" x2="${x}" y1="45" y2="${y}" stroke="#ddd"/>`,
      `<text x="${x}" y="${y + 16}" text-anchor="middle" fill="#666">${v}</text>`,
    );
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + chartWidth + 90}" height="${height}" font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="#fff"/>',
    `<text x="10" y="22" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="10" y="40" fill="#666">MB/s of raw dump bytes, median of the runs (line: min–max); grey: tool alone, orange: shell peer, blue: dumpvault</text>`,
    ...ticks,
    ...parts,
    `<text x="${labelWidth + chartWidth / 2}" y="${y + 32}" text-anchor="middle" fill="#666">MB/s</text>`,
    '</svg>',
    '',
  ].join('\n');
}
