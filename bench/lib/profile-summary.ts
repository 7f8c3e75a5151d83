/**
 * Reads a V8 CPU profile (`node --cpu-prof`, or the benchmarks' --cpu-prof-dir) and prints where
 * the time went: the functions with the most self time, and the project functions with the most
 * inclusive time (time in them and everything they called).
 *
 * `node --import tsx bench/lib/profile-summary.ts <file.cpuprofile> [top=25] [filter]`
 */
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileLine {
  readonly name: string;
  readonly ms: number;
  readonly percent: number;
}

function label(node: ProfileNode): string {
  const frame = node.callFrame;
  const file = frame.url.replace(/^file:\/\//, '').replace(/^.*\/work\/main\//, '').replace(/^.*node_modules\//, 'nm:');
  return `${frame.functionName || '(anonymous)'} ${file}${file ? `:${frame.lineNumber + 1}` : ''}`;
}

export async function summarizeProfile(path: string, top = 25, filter?: string): Promise<{ totalMs: number; self: ProfileLine[]; inclusive: ProfileLine[] }> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Self time per node from the samples and their time deltas.
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0));
  const totalUs = profile.endTime - profile.startTime;
  const selfByLabel = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const key = label(byId.get(id)!);
    selfByLabel.set(key, (selfByLabel.get(key) ?? 0) + us);
  }
  // Inclusive time per label (counted once per stack even under recursion).
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const key = label(byId.get(at)!);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  const lines = (map: Map<string, number>, keep: (name: string) => boolean) =>
    [...map.entries()]
      .filter(([name]) => keep(name))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, percent: (us / totalUs) * 100 }));
  const own = (name: string) => (filter ? name.includes(filter) : /(engine|bench|migrations)\//.test(name));
  return { totalMs: totalUs / 1000, self: lines(selfByLabel, () => true), inclusive: lines(inclusive, own) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [path, top, filter] = process.argv.slice(2);
  if (!path) {
    console.error('usage: profile-summary.ts <file.cpuprofile> [top] [filter]');
    process.exit(1);
  }
  const summary = await summarizeProfile(path, top ? Number(top) : 25, filter);
  const show = (title: string, list: ProfileLine[]) => {
    console.log(`\n${title}`);
    for (const line of list) console.log(`${line.ms.toFixed(0).padStart(8)} ms ${line.percent.toFixed(1).padStart(5)}%  ${line.name}`);
  };
  console.log(`profile: ${summary.totalMs.toFixed(0)} ms`);
  show('self time', summary.self);
  show('inclusive time (project code)', summary.inclusive);
}
