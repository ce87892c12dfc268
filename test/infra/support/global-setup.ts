/**
 * One directory per test run where test/infra/support/synthesized.ts keeps each synthesized
 * fixture, so every infra test file shares one synth of it. Nothing is synthesized here: a run
 * of other test files pays nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(path.join(tmpdir(), 'dumpvault-synth-run-'));
  project.provide('infraSynthDir', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
