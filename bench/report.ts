/**
 * What every benchmark returns, how it is printed, and where it is kept
 * (`bench/results/<name>.json`, with the machine it ran on).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BenchRow {
  readonly what: string;
  readonly value: number;
  readonly unit: string;
  /** The limit measured in the same run, beside which the figure is judged. */
  readonly baseline?: { readonly what: string; readonly value: number };
  /** value / baseline.value. */
  readonly ratio?: number;
  /** A target from PERFORMANCE.md, and whether this run met it. */
  readonly target?: { readonly value: number; readonly comparison: '>=' | '<='; readonly met: boolean };
}

export interface BenchResult {
  readonly name: string;
  readonly rows: BenchRow[];
  readonly notes?: string[];
}

export interface MachineInfo {
  readonly nproc: number;
  readonly cpu: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly loadAverage: number[];
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    nproc: list.length,
    cpu: list[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

export function target(value: number, comparison: '>=' | '<=', goal: number): BenchRow['target'] {
  return { value: goal, comparison, met: comparison === '>=' ? value >= goal : value <= goal };
}

export function formatValue(value: number, unit: string): string {
  if (unit === 's' || unit === 'ms' || unit === 'MiB' || unit === 'KiB') return value.toFixed(value < 10 ? 3 : 1);
  return Math.round(value).toLocaleString('en-US');
}

export function printTable(result: BenchResult): void {
  console.log(`\n# ${result.name}`);
  for (const row of result.rows) {
    const value = formatValue(row.value, row.unit);
    const ratio = row.ratio === undefined || !row.baseline ? '' : `  ${row.ratio.toFixed(3)}x ${row.baseline.what}`;
    const goal = row.target ? `  [target ${row.target.comparison} ${formatValue(row.target.value, row.unit)}: ${row.target.met ? 'met' : 'MISSED'}]` : '';
    console.log(`${row.what.padEnd(62)} ${value.padStart(12)} ${row.unit.padEnd(9)}${ratio}${goal}`);
  }
  for (const note of result.notes ?? []) console.log(`note: ${note}`);
}

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

export async function saveResult(result: BenchResult): Promise<string> {
  await mkdir(resultsDir, { recursive: true });
  const path = join(resultsDir, `${result.name}.json`);
  await writeFile(path, JSON.stringify({ ...result, machine: machineInfo(), measuredAt: new Date().toISOString() }, null, 2) + '\n');
  return path;
}
