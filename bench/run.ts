/**
 * `npm run bench` runs every benchmark; `npm run bench -- <name> [...]` runs some of them.
 * `--quick` shortens each measurement (for a smoke run). Results are printed and written to
 * bench/results/<name>.json.
 */
import { printTable, saveResult, machineInfo, type BenchResult } from './report.js';

type Bench = (options: { quick: boolean }) => Promise<BenchResult>;

const BENCHMARKS: Record<string, () => Promise<Bench>> = {
  crypto: async () => (await import('./crypto.js')).run,
  relay: async () => (await import('./relay.js')).run,
  fanout: async () => (await import('./fanout.js')).run,
  connections: async () => (await import('./connections.js')).run,
  coldstart: async () => (await import('./coldstart.js')).run,
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const names = args.filter((a) => !a.startsWith('--'));
const unknown = names.filter((n) => !(n in BENCHMARKS));
if (unknown.length > 0) {
  console.error(`Unknown benchmark(s): ${unknown.join(', ')}. Known: ${Object.keys(BENCHMARKS).join(', ')}`);
  process.exit(1);
}
const selected = names.length > 0 ? names : Object.keys(BENCHMARKS);
const machine = machineInfo();
console.log(`machine: ${machine.nproc} vCPU (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}, load ${machine.loadAverage.join(' ')}`);
if ((globalThis as { gc?: unknown }).gc === undefined) console.log('note: run through `npm run bench` (node --expose-gc) for steadier figures');
for (const name of selected) {
  const bench = await BENCHMARKS[name]!();
  const result = await bench({ quick });
  printTable(result);
  console.log(`saved ${await saveResult(result)}`);
}
