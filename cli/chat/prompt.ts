/**
 * Input and output of the chat client on one `node:readline` interface: questions, hidden
 * passwords, yes/no confirmations, the chat prompt with history, and printing incoming lines
 * without garbling what the user is typing (the prompt and the half-typed line are re-drawn
 * below the new output).
 *
 * Interactive mode (stdin and stdout are terminals): readline edits lines, keeps history and
 * completes command names; a password is typed with echo off. Otherwise (tests, pipes) every
 * line of stdin is one answer, read in order; a password is read as a plain line, and the chat
 * prompt is not printed (nobody sees it).
 */
import { clearScreenDown, createInterface, cursorTo, moveCursor, type Completer, type Interface } from 'node:readline';
import { Writable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';

export interface TerminalOptions {
  readonly input: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly output: NodeJS.WriteStream;
  /** Defaults to: both input and output are terminals. */
  readonly interactive?: boolean;
  /** Tab completion of the chat line (interactive mode). */
  readonly completer?: Completer;
}

/**
 * The stream readline writes to in interactive mode: passes everything to the real terminal
 * except while a password is typed (`muted`), so the echo of the typed characters is swallowed.
 */
class EchoGate extends Writable {
  muted = false;

  constructor(private readonly target: NodeJS.WriteStream) {
    super({ decodeStrings: false });
    target.on('resize', () => this.emit('resize'));
  }

  get isTTY(): boolean {
    return true;
  }

  get columns(): number {
    return this.target.columns;
  }

  get rows(): number {
    return this.target.rows;
  }

  override _write(chunk: string | Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // Written through synchronously, so readline's output and ours stay in order.
    if (!this.muted) this.target.write(chunk);
    callback();
  }
}

export class Terminal {
  readonly interactive: boolean;
  private readonly rl: Interface;
  private readonly gate: EchoGate | undefined;
  private readonly out: NodeJS.WritableStream;
  private readonly lines: string[] = [];
  private readonly waiters: Array<(line: string | undefined) => void> = [];
  private ended = false;
  /** A prompt is on screen and waiting for input (so printed lines must re-draw it). */
  private prompting = false;
  private readonly interruptListeners: Array<() => void> = [];
  /** The prompt and line of the last readLine, when it was typed at that prompt (its echo is the last thing on screen). */
  private echo: { prompt: string; line: string } | undefined;

  constructor(options: TerminalOptions) {
    this.interactive = options.interactive ?? (options.input.isTTY === true && options.output.isTTY === true);
    this.gate = this.interactive ? new EchoGate(options.output) : undefined;
    this.out = this.gate ?? options.output;
    this.rl = createInterface({
      input: options.input,
      output: this.gate ?? options.output,
      terminal: this.interactive,
      historySize: this.interactive ? 500 : 0,
      removeHistoryDuplicates: true,
      tabSize: 4,
      ...(this.interactive && options.completer ? { completer: options.completer } : {}),
    });
    this.rl.on('line', (line) => {
      const waiter = this.waiters.shift();
      if (waiter) waiter(line);
      else this.lines.push(line);
    });
    this.rl.on('close', () => {
      this.ended = true;
      for (const waiter of this.waiters.splice(0)) waiter(undefined);
    });
    // Ctrl+C: clears a half-typed line; on an empty line (or in a question) it interrupts.
    this.rl.on('SIGINT', () => {
      if (this.rl.line.length > 0 && !this.gate?.muted) {
        this.rl.write(null, { ctrl: true, name: 'e' });
        this.rl.write(null, { ctrl: true, name: 'u' });
        return;
      }
      this.out.write('\n');
      // The innermost waiter (a question) handles it; otherwise the session's listener.
      this.interruptListeners[0]?.();
    });
  }

  /** Called on Ctrl+C on an empty chat line (a question being asked takes Ctrl+C as "cancel" instead). */
  onInterrupt(listener: () => void): void {
    this.interruptListeners.push(listener);
  }

  /** Whether input has ended (Ctrl+D, closed pipe) and no lines are left. */
  get closed(): boolean {
    return this.ended && this.lines.length === 0;
  }

  /** Prints a line (or several). While a prompt is waiting, prints above it and re-draws the prompt and the typed text. */
  print(text: string): void {
    this.echo = undefined;
    if (!this.interactive || !this.prompting) {
      this.out.write(`${text}\n`);
      return;
    }
    // Go to where the prompt starts (the typed text may wrap over several rows), clear to the
    // end of the screen, print, then let readline draw the prompt and the line again. Before
    // re-drawing, readline moves up by the rows it last recorded (`prevRows`, kept by Node's
    // readline): that many blank rows below the printed text give it room to do so.
    const rows = this.rl.getCursorPos().rows;
    const recorded = (this.rl as unknown as { prevRows?: unknown }).prevRows;
    const pad = typeof recorded === 'number' && recorded > 0 ? recorded : 0;
    moveCursor(this.out, 0, -rows);
    cursorTo(this.out, 0);
    clearScreenDown(this.out);
    this.out.write(`${text}\n${'\n'.repeat(pad)}`);
    this.rl.prompt(true);
  }

  /**
   * Reads the next line after showing `prompt`, or undefined when input has ended or `signal`
   * aborted the wait (the prompt and a half-typed line are then taken off the screen; a line typed
   * later goes to the next read).
   */
  async readLine(prompt: string, signal?: AbortSignal): Promise<string | undefined> {
    this.echo = undefined;
    if (signal?.aborted) return undefined;
    this.rl.setPrompt(prompt);
    if (!this.interactive) return this.next(signal);
    this.prompting = true;
    this.rl.prompt();
    const waited = this.lines.length === 0;
    try {
      const line = await this.next(signal);
      if (signal?.aborted && line === undefined) {
        this.clearPrompt();
        return undefined;
      }
      // Typed at this prompt and nothing typed or pasted after it: its echo ends the screen.
      if (line !== undefined && waited && this.lines.length === 0) this.echo = { prompt, line };
      return line;
    } finally {
      this.prompting = false;
    }
  }

  /** Interactive mode: removes the prompt waiting on screen and whatever was typed after it. */
  private clearPrompt(): void {
    this.rl.write(null, { ctrl: true, name: 'e' });
    this.rl.write(null, { ctrl: true, name: 'u' });
    const rows = this.rl.getCursorPos().rows;
    moveCursor(this.out, 0, -rows);
    cursorTo(this.out, 0);
    clearScreenDown(this.out);
  }

  /**
   * Removes the echo of the line just read (prompt and text), for a message that is about to be
   * printed in its final form. Does nothing when that echo is not certainly the last thing on
   * screen (pasted lines, a pipe).
   */
  eraseEcho(): void {
    const echo = this.echo;
    this.echo = undefined;
    if (!echo || !this.interactive) return;
    // Like readline: an unknown width means no wrapping.
    const columns = this.gate?.columns || Infinity;
    const width = displayWidth(stripVTControlCharacters(echo.prompt)) + displayWidth(echo.line);
    const rows = columns === Infinity ? 1 : Math.floor(Math.max(0, width - 1) / columns) + 1;
    moveCursor(this.out, 0, -rows);
    cursorTo(this.out, 0);
    clearScreenDown(this.out);
  }

  /** Asks a question and returns the trimmed answer, or undefined when input has ended or Ctrl+C was pressed. */
  async ask(question: string): Promise<string | undefined> {
    this.rl.setPrompt(question);
    if (this.interactive) {
      this.prompting = true;
      this.rl.prompt();
    } else {
      this.out.write(question);
    }
    try {
      const answer = await this.nextOrInterrupt();
      if (!this.interactive) this.out.write('\n');
      return answer?.trim();
    } finally {
      this.prompting = false;
    }
  }

  /** Asks for a secret: typed without echo on a terminal, kept out of the history. Not trimmed. */
  async askSecret(question: string): Promise<string | undefined> {
    if (!this.interactive || !this.gate) {
      this.out.write(question);
      const answer = await this.nextOrInterrupt();
      this.out.write('\n');
      return answer;
    }
    this.rl.setPrompt(question);
    this.rl.prompt();
    this.gate.muted = true;
    try {
      const answer = await this.nextOrInterrupt();
      if (answer !== undefined) this.forgetHistory(answer);
      return answer;
    } finally {
      this.gate.muted = false;
      this.out.write('\n');
    }
  }

  /** Asks a yes/no question; Enter alone gives `defaultAnswer`. */
  async confirm(question: string, defaultAnswer = false): Promise<boolean> {
    for (;;) {
      const answer = await this.ask(`${question} ${defaultAnswer ? '[Y/n]' : '[y/N]'} `);
      if (answer === undefined) return false;
      if (answer === '') return defaultAnswer;
      if (/^(y|yes)$/i.test(answer)) return true;
      if (/^(n|no)$/i.test(answer)) return false;
      this.print('Please answer y or n.');
    }
  }

  /** Waits for `promise`; undefined when Ctrl+C is pressed first. A rejection passes through. */
  async untilInterrupt<T>(promise: Promise<T>): Promise<T | undefined> {
    let onInterrupt!: () => void;
    const interrupted = new Promise<undefined>((resolve) => {
      onInterrupt = () => resolve(undefined);
    });
    this.interruptListeners.unshift(onInterrupt);
    try {
      return await Promise.race([promise, interrupted]);
    } finally {
      this.removeInterrupt(onInterrupt);
    }
  }

  close(): void {
    this.prompting = false;
    this.rl.close();
  }

  private next(signal?: AbortSignal): Promise<string | undefined> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve(undefined);
    if (!signal) return new Promise((resolve) => this.waiters.push(resolve));
    return new Promise((resolve) => {
      const onAbort = (): void => {
        const index = this.waiters.indexOf(take);
        if (index >= 0) this.waiters.splice(index, 1);
        resolve(undefined);
      };
      const take = (line: string | undefined): void => {
        signal.removeEventListener('abort', onAbort);
        resolve(line);
      };
      this.waiters.push(take);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The next line, or undefined when Ctrl+C is pressed first (a question is abandoned). */
  private nextOrInterrupt(): Promise<string | undefined> {
    return new Promise((resolve) => {
      let settled = false;
      const onInterrupt = (): void => {
        if (settled) return;
        settled = true;
        this.removeInterrupt(onInterrupt);
        const index = this.waiters.indexOf(take);
        if (index >= 0) this.waiters.splice(index, 1);
        resolve(undefined);
      };
      const take = (line: string | undefined): void => {
        if (settled) {
          if (line !== undefined) this.lines.unshift(line);
          return;
        }
        settled = true;
        this.removeInterrupt(onInterrupt);
        resolve(line);
      };
      this.interruptListeners.unshift(onInterrupt);
      const queued = this.lines.shift();
      if (queued !== undefined) take(queued);
      else if (this.ended) take(undefined);
      else this.waiters.push(take);
    });
  }

  private removeInterrupt(listener: () => void): void {
    const index = this.interruptListeners.indexOf(listener);
    if (index >= 0) this.interruptListeners.splice(index, 1);
  }

  /** Removes a secret that readline just added to its history. */
  private forgetHistory(line: string): void {
    const history = (this.rl as unknown as { history?: unknown }).history;
    if (Array.isArray(history) && history[0] === line) history.shift();
  }
}

/** Columns a string takes in a terminal: wide East Asian characters and emoji take two, combining marks none. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if ((code >= 0x300 && code <= 0x36f) || (code >= 0x200b && code <= 0x200f) || (code >= 0xfe00 && code <= 0xfe0f)) continue;
    const wide =
      (code >= 0x1100 && code <= 0x115f) ||
      (code >= 0x2e80 && code <= 0xa4cf) ||
      (code >= 0xac00 && code <= 0xd7a3) ||
      (code >= 0xf900 && code <= 0xfaff) ||
      (code >= 0xfe30 && code <= 0xfe4f) ||
      (code >= 0xff00 && code <= 0xff60) ||
      (code >= 0xffe0 && code <= 0xffe6) ||
      (code >= 0x1f300 && code <= 0x1faff) ||
      (code >= 0x20000 && code <= 0x3fffd);
    width += wide ? 2 : 1;
  }
  return width;
}
