/**
 * Drives `kecalek chat` as a child process through its real stdin and stdout (no terminal:
 * stdin is a pipe, so answers and passwords are plain lines; NO_COLOR=1 keeps stdout plain).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'bin', 'kecalek.mjs');

/** How long waitFor waits by default: generous, because each step may load the client and derive keys. */
export const DEFAULT_WAIT_MS = 30_000;

export class ChatProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  /** Where the next waitFor starts looking (just after the previous match). */
  private cursor = 0;
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    args: readonly string[],
    env: Record<string, string> = {},
  ) {
    this.child = spawn(process.execPath, [BIN, 'chat', ...args], {
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.child.stdin!.on('error', () => undefined);
    this.exited = new Promise((resolveExit) => this.child.on('exit', (code) => resolveExit(code)));
  }

  /** Types a line (and Enter). */
  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /**
   * Waits until stdout (after the previous match) matches `pattern`; fails with the stdout and
   * stderr seen so far when it does not appear within `timeoutMs` or the process exits first.
   */
  async waitFor(pattern: RegExp, timeoutMs = DEFAULT_WAIT_MS): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rest = this.stdout.slice(this.cursor);
      const match = pattern.exec(rest);
      if (match) {
        this.cursor += match.index + match[0].length;
        return match;
      }
      const exited = this.child.exitCode !== null || this.child.signalCode !== null;
      if (exited || Date.now() > deadline) {
        const why = exited ? `the process exited (code ${this.child.exitCode ?? this.child.signalCode})` : `nothing matched within ${timeoutMs} ms`;
        throw new Error(
          `[${this.name}] waiting for ${pattern} on stdout: ${why}.\n--- stdout after the previous match ---\n${rest.slice(-4000)}\n--- stderr ---\n${this.stderr.slice(-4000)}`,
        );
      }
      await new Promise((resolveTick) => setTimeout(resolveTick, 20));
    }
  }

  /** Types /quit and waits for the exit code. */
  async quit(): Promise<number | null> {
    if (this.child.exitCode === null) this.send('/quit');
    return this.exited;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
