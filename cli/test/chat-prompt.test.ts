import { expect } from 'chai';
import { PassThrough, Writable } from 'node:stream';
import { Terminal, displayWidth } from '../chat/prompt.js';

/** A stand-in for a terminal's output: collects what is written, reports a width. */
class ScreenOutput extends Writable {
  text = '';
  isTTY = true;
  columns = 80;
  rows = 24;
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

// eslint-disable-next-line no-control-regex
const stripAnsi = (text: string): string => text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

function pipeTerminal(): { terminal: Terminal; input: PassThrough; output: ScreenOutput } {
  const input = new PassThrough();
  const output = new ScreenOutput();
  output.isTTY = false;
  const terminal = new Terminal({ input, output: output as unknown as NodeJS.WriteStream, interactive: false });
  return { terminal, input, output };
}

function ttyTerminal(): { terminal: Terminal; input: PassThrough; output: ScreenOutput } {
  const input = new PassThrough();
  const output = new ScreenOutput();
  const terminal = new Terminal({ input, output: output as unknown as NodeJS.WriteStream, interactive: true });
  return { terminal, input, output };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('chat terminal input', () => {
  describe('from a pipe', () => {
    it('answers questions in order, also with lines that arrived early', async () => {
      const { terminal, input, output } = pipeTerminal();
      input.write('alice\nsecret pass \ny\n');
      expect(await terminal.ask('Username: ')).to.equal('alice');
      expect(await terminal.askSecret('Password: ')).to.equal('secret pass ');
      expect(await terminal.confirm('Sure?')).to.equal(true);
      expect(output.text).to.equal('Username: \nPassword: \nSure? [y/N] \n');
      terminal.close();
    });

    it('does not print the chat prompt, and reports the end of input', async () => {
      const { terminal, input, output } = pipeTerminal();
      const line = terminal.readLine('alice> ');
      input.end('/list\n');
      expect(await line).to.equal('/list');
      expect(await terminal.readLine('alice> ')).to.equal(undefined);
      expect(terminal.closed).to.equal(true);
      expect(output.text).to.equal('');
    });

    it('gives up waiting for a chat line when its signal aborts; a line typed later goes to the next question', async () => {
      const { terminal, input } = pipeTerminal();
      const abort = new AbortController();
      const line = terminal.readLine('alice> ', abort.signal);
      abort.abort();
      expect(await line).to.equal(undefined);
      expect(terminal.closed).to.equal(false);
      expect(await terminal.readLine('alice> ', abort.signal)).to.equal(undefined);
      input.write('1\n');
      expect(await terminal.ask('Choose [1]: ')).to.equal('1');
      terminal.close();
    });

    it('asks again until a yes/no answer, and takes Enter as the default', async () => {
      const { terminal, input, output } = pipeTerminal();
      input.write('maybe\n\n');
      expect(await terminal.confirm('Delete?', true)).to.equal(true);
      expect(output.text).to.include('Please answer y or n.');
      terminal.close();
    });
  });

  describe('on a terminal', () => {
    it('does not echo a password and keeps it out of the history', async () => {
      const { terminal, input, output } = ttyTerminal();
      const answer = terminal.askSecret('Password: ');
      await tick();
      input.write('hunter22\r');
      expect(await answer).to.equal('hunter22');
      expect(output.text).to.include('Password: ');
      expect(output.text).to.not.include('hunter22');
      const line = terminal.readLine('> ');
      await tick();
      input.write('\x1b[A'); // arrow up: the previous history entry
      await tick();
      expect(stripAnsi(output.text)).to.not.include('hunter22');
      input.write('\r');
      expect(await line).to.equal('');
      terminal.close();
    });

    it('prints incoming lines above the prompt and re-draws the half-typed line', async () => {
      const { terminal, input, output } = ttyTerminal();
      const line = terminal.readLine('alice@bob> ');
      await tick();
      input.write('half typ');
      await tick();
      output.text = '';
      terminal.print('09:07 #1 bob: hello');
      const screen = output.text;
      const printedAt = screen.indexOf('09:07 #1 bob: hello\n');
      expect(printedAt).to.be.greaterThan(-1);
      // The prompt and what was typed come back after the printed line.
      expect(stripAnsi(screen.slice(printedAt))).to.match(/09:07 #1 bob: hello\n(\n)*alice@bob> half typ/);
      // The row the prompt was on is cleared first (erase to end of screen).
      expect(screen.slice(0, printedAt)).to.include('\x1b[0J');
      input.write('ed\r');
      expect(await line).to.equal('half typed');
      terminal.close();
    });

    it('takes the prompt and a half-typed line off the screen when the wait for a chat line is aborted', async () => {
      const { terminal, input, output } = ttyTerminal();
      const abort = new AbortController();
      const line = terminal.readLine('alice@bob> ', abort.signal);
      await tick();
      input.write('half typ');
      await tick();
      output.text = '';
      abort.abort();
      expect(await line).to.equal(undefined);
      // Erased to the end of the screen, and what was typed is not handed to the next question.
      expect(output.text).to.include('\x1b[0J');
      const answer = terminal.ask('Choose [1]: ');
      await tick();
      input.write('2\r');
      expect(await answer).to.equal('2');
      terminal.close();
    });

    it('removes the echo of a sent line, over as many rows as it wrapped to', async () => {
      const { terminal, input, output } = ttyTerminal();
      output.columns = 20;
      const line = terminal.readLine('alice@bob> ');
      await tick();
      input.write('a message that wraps\r'); // 11 + 20 columns: two rows
      expect(await line).to.equal('a message that wraps');
      output.text = '';
      terminal.eraseEcho();
      expect(output.text).to.equal('\x1b[2A\x1b[1G\x1b[0J');
      output.text = '';
      terminal.eraseEcho(); // only once
      expect(output.text).to.equal('');
      terminal.close();
    });

    it('keeps the echo of pasted lines (the last one is not alone on screen)', async () => {
      const { terminal, input, output } = ttyTerminal();
      const first = terminal.readLine('> ');
      await tick();
      input.write('one\rtwo\r');
      expect(await first).to.equal('one');
      output.text = '';
      terminal.eraseEcho();
      expect(output.text).to.equal('');
      expect(await terminal.readLine('> ')).to.equal('two');
      terminal.close();
    });

    it('measures text as a terminal shows it', () => {
      expect(displayWidth('hello')).to.equal(5);
      expect(displayWidth('日本')).to.equal(4);
      expect(displayWidth('👍 ok')).to.equal(5);
      expect(displayWidth('e\u0301')).to.equal(1);
    });

    it('abandons a question on Ctrl+C and calls the session\'s handler on an empty chat line', async () => {
      const { terminal, input } = ttyTerminal();
      let interrupted = 0;
      terminal.onInterrupt(() => (interrupted += 1));
      const question = terminal.ask('Code: ');
      await tick();
      input.write('\x03');
      expect(await question).to.equal(undefined);
      expect(interrupted).to.equal(0);
      const line = terminal.readLine('> ');
      await tick();
      input.write('abc');
      await tick();
      input.write('\x03'); // clears the typed text
      await tick();
      expect(interrupted).to.equal(0);
      input.write('\x03'); // on an empty line: the session's handler
      await tick();
      expect(interrupted).to.equal(1);
      input.write('x\r');
      expect(await line).to.equal('x');
      terminal.close();
    });
  });
});
