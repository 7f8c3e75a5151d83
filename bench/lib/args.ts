/**
 * Benchmark options from the command line: `npm run bench -- relay --pairs=50 --rate=2000`.
 * bench/run.ts ignores `--name=value` arguments, so each benchmark reads its own here.
 */

/** The value of `--name=value` (or undefined). */
export function option(name: string, argv: readonly string[] = process.argv): string | undefined {
  const prefix = `--${name}=`;
  const found = argv.findLast((arg) => arg.startsWith(prefix));
  return found?.slice(prefix.length);
}

/** A positive number option, or `fallback`; anything else stops the benchmark with a clear message. */
export function numberOption(name: string, fallback: number, argv: readonly string[] = process.argv): number {
  const raw = option(name, argv);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got "${raw}"`);
  return value;
}

/** Whether `--name` (without a value) is present. */
export function flag(name: string, argv: readonly string[] = process.argv): boolean {
  return argv.includes(`--${name}`);
}
