import { expect } from 'chai';
import { Readable } from 'node:stream';
import { FrameDecoder, encodeFrame, readFrames } from '../framing.js';
import { ProtocolError, type Frame } from '../parse.js';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_FRAME_BYTES } from '../constants.js';

type Event =
  | { kind: 'frame'; frame: Frame; body: Buffer | undefined }
  | { kind: 'error'; error: ProtocolError; fatal: boolean };

function collector(options: { maxFrameBytes?: number; maxBodyBytes?: number } = {}): { decoder: FrameDecoder; events: Event[] } {
  const events: Event[] = [];
  const decoder = new FrameDecoder({
    ...options,
    onFrame: (frame, body) => events.push({ kind: 'frame', frame, body }),
    onError: (error, fatal) => events.push({ kind: 'error', error, fatal }),
  });
  return { decoder, events };
}

/** A comparable summary of the events (bodies as hex, errors by code). */
function summary(events: Event[]): unknown[] {
  return events.map((event) =>
    event.kind === 'frame'
      ? { frame: event.frame, body: event.body?.toString('hex') }
      : { code: event.error.code, fatal: event.fatal, requestId: event.error.requestId },
  );
}

function bytes(...parts: Array<string | Uint8Array>): Buffer {
  return Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'utf8') : Buffer.from(part))));
}

const binaryBody = Buffer.from([0x00, 0x0a, 0x0d, 0xff, 0x7b, 0x0a, 0x0a, 0x22, 0x80, 0xc3]);

/** A stream with multi-byte UTF-8, a body containing newlines and invalid UTF-8, \r\n, empty lines. */
const mixedStream = bytes(
  '{"type":"a","request_id":"1","text":"žluťoučký kůň 🐴"}\n',
  '\n',
  `{"type":"file_chunk","request_id":"2","body_bytes":${binaryBody.length}}\n`,
  binaryBody,
  '{"type":"c","emoji":"👩‍👩‍👧"}\r\n',
  '\r\n',
  '{"type":"zero","body_bytes":0}\n',
  '{"type":"d","n":[1,2,3],"nested":{"x":null}}\n',
);

describe('protocol/framing FrameDecoder', () => {
  const expected = (() => {
    const { decoder, events } = collector();
    decoder.push(mixedStream);
    decoder.end();
    return summary(events);
  })();

  it('decodes frames, bodies, \\r\\n and empty lines from one chunk', () => {
    expect(expected).to.deep.equal([
      { frame: { type: 'a', request_id: '1', text: 'žluťoučký kůň 🐴' }, body: undefined },
      { frame: { type: 'file_chunk', request_id: '2', body_bytes: binaryBody.length }, body: binaryBody.toString('hex') },
      { frame: { type: 'c', emoji: '👩‍👩‍👧' }, body: undefined },
      { frame: { type: 'zero', body_bytes: 0 }, body: '' },
      { frame: { type: 'd', n: [1, 2, 3], nested: { x: null } }, body: undefined },
    ]);
  });

  it('gives the same result for a split at every byte position', () => {
    for (let split = 0; split <= mixedStream.length; split++) {
      const { decoder, events } = collector();
      decoder.push(mixedStream.subarray(0, split));
      decoder.push(mixedStream.subarray(split));
      decoder.end();
      expect(summary(events), `split at ${split}`).to.deep.equal(expected);
    }
  });

  it('gives the same result for every pair of split positions (three chunks)', () => {
    for (let first = 0; first <= mixedStream.length; first += 3) {
      for (let second = first; second <= mixedStream.length; second += 5) {
        const { decoder, events } = collector();
        decoder.push(mixedStream.subarray(0, first));
        decoder.push(mixedStream.subarray(first, second));
        decoder.push(mixedStream.subarray(second));
        decoder.end();
        expect(summary(events), `splits at ${first}, ${second}`).to.deep.equal(expected);
      }
    }
  });

  it('gives the same result fed one byte at a time, and in random chunk sizes', () => {
    const oneByOne = collector();
    for (const byte of mixedStream) oneByOne.decoder.push(Uint8Array.of(byte));
    oneByOne.decoder.end();
    expect(summary(oneByOne.events)).to.deep.equal(expected);

    let seed = 42;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 200; round++) {
      const { decoder, events } = collector();
      let pos = 0;
      while (pos < mixedStream.length) {
        const size = 1 + Math.floor(random() * 40);
        decoder.push(mixedStream.subarray(pos, pos + size));
        pos += size;
      }
      decoder.end();
      expect(summary(events)).to.deep.equal(expected);
    }
  });

  it('accepts plain Uint8Arrays as well as Buffers', () => {
    const { decoder, events } = collector();
    decoder.push(new Uint8Array(mixedStream));
    decoder.end();
    expect(summary(events)).to.deep.equal(expected);
  });

  it('delivers many frames from one chunk in order', () => {
    const { decoder, events } = collector();
    const frames = Array.from({ length: 5000 }, (_, i) => ({ type: 'n', i }));
    decoder.push(Buffer.from(frames.map((f) => JSON.stringify(f) + '\n').join('')));
    expect(events.map((e) => (e.kind === 'frame' ? e.frame : e))).to.deep.equal(frames);
  });

  it('interleaves frames and bodies of many sizes, split into odd chunks', () => {
    const parts: Buffer[] = [];
    const wanted: Array<{ i: number; body: string | undefined }> = [];
    for (let i = 0; i < 60; i++) {
      if (i % 3 === 0) {
        parts.push(...encodeFrame({ type: 'plain', i }));
        wanted.push({ i, body: undefined });
      } else {
        const body = Buffer.alloc(i * 997, i);
        body[0] = 0x0a;
        parts.push(...encodeFrame({ type: 'with_body', i }, body));
        wanted.push({ i, body: body.toString('hex') });
      }
    }
    const stream = Buffer.concat(parts);
    for (const chunkSize of [1, 7, 100, 4096, 65536, stream.length]) {
      const { decoder, events } = collector();
      for (let pos = 0; pos < stream.length; pos += chunkSize) decoder.push(stream.subarray(pos, pos + chunkSize));
      decoder.end();
      expect(events.every((e) => e.kind === 'frame')).to.equal(true);
      expect(events.map((e) => (e.kind === 'frame' ? { i: e.frame.i, body: e.body?.toString('hex') } : e))).to.deep.equal(wanted);
    }
  });

  it('keeps the body_bytes field in the frame', () => {
    const { decoder, events } = collector();
    decoder.push(Buffer.concat(encodeFrame({ type: 'x' }, Buffer.from('abc'))));
    expect(events).to.have.length(1);
    expect((events[0] as { frame: Frame }).frame).to.deep.equal({ type: 'x', body_bytes: 3 });
  });

  describe('size caps', () => {
    it('cuts off a 100 MB stream with no newline right after the cap, holding at most about one cap', () => {
      const cap = DEFAULT_MAX_FRAME_BYTES;
      const { decoder, events } = collector({ maxFrameBytes: cap });
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let pushed = 0;
      let maxBuffered = 0;
      while (pushed < 100 * 1024 * 1024 && !decoder.closed) {
        decoder.push(chunk);
        pushed += chunk.length;
        maxBuffered = Math.max(maxBuffered, decoder.bufferedBytes);
      }
      expect(decoder.closed).to.equal(true);
      expect(pushed).to.be.at.most(cap + chunk.length);
      expect(maxBuffered).to.be.at.most(cap + 1);
      expect(decoder.bufferedBytes).to.equal(0);
      expect(summary(events)).to.deep.equal([{ code: 'frame_too_large', fatal: true, requestId: undefined }]);
      const error = (events[0] as { error: ProtocolError }).error;
      expect(error).to.be.instanceOf(ProtocolError);
      expect(error.fatal).to.equal(true);
      expect(error.details).to.deep.equal({ limit: cap });
      // Input after a fatal error is ignored.
      decoder.push(Buffer.from('{"type":"late"}\n'));
      expect(events).to.have.length(1);
    });

    it('readFrames stops pulling from a lazy 100 MB stream after the cap', async () => {
      let produced = 0;
      function* endless(): Generator<Buffer> {
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        chunk.write('{"type":"big","request_id":"r-big","pad":"');
        yield chunk;
        produced += chunk.length;
        const filler = Buffer.alloc(64 * 1024, 0x61);
        while (produced < 100 * 1024 * 1024) {
          yield filler;
          produced += filler.length;
        }
      }
      const stream = Readable.from(endless(), { objectMode: false });
      let caught: unknown;
      try {
        for await (const item of readFrames(stream, { maxFrameBytes: 1024 * 1024 })) {
          expect.fail(`unexpected frame ${JSON.stringify(item.frame)}`);
        }
      } catch (error) {
        caught = error;
      }
      expect(caught).to.be.instanceOf(ProtocolError);
      expect((caught as ProtocolError).code).to.equal('frame_too_large');
      expect((caught as ProtocolError).requestId).to.equal('r-big');
      expect(produced).to.be.below(4 * 1024 * 1024);
    });

    it('refuses a complete line over the cap that arrives in one chunk', () => {
      const { decoder, events } = collector({ maxFrameBytes: 100 });
      decoder.push(Buffer.from(`{"type":"x","request_id":"q1","pad":"${'a'.repeat(200)}"}\n{"type":"y"}\n`));
      expect(summary(events)).to.deep.equal([{ code: 'frame_too_large', fatal: true, requestId: 'q1' }]);
    });

    it('accepts a frame of exactly the cap, also with \\r\\n and split anywhere, and refuses one byte more', () => {
      const cap = 200;
      const exact = `{"type":"x","pad":"${'b'.repeat(cap - 21)}"}`;
      expect(Buffer.byteLength(exact)).to.equal(cap);
      const over = `{"type":"x","pad":"${'b'.repeat(cap - 20)}"}`;
      for (const terminator of ['\n', '\r\n']) {
        const stream = Buffer.from(exact + terminator + '{"type":"next"}\n');
        for (let split = 0; split <= stream.length; split++) {
          const { decoder, events } = collector({ maxFrameBytes: cap });
          decoder.push(stream.subarray(0, split));
          decoder.push(stream.subarray(split));
          expect(events.map((e) => e.kind), `split ${split}`).to.deep.equal(['frame', 'frame']);
        }
        const tooBig = Buffer.from(over + terminator);
        for (let split = 0; split <= tooBig.length; split++) {
          const { decoder, events } = collector({ maxFrameBytes: cap });
          decoder.push(tooBig.subarray(0, split));
          decoder.push(tooBig.subarray(split));
          expect(summary(events), `split ${split}`).to.deep.equal([{ code: 'frame_too_large', fatal: true, requestId: undefined }]);
        }
      }
    });

    it('refuses an announced body above the cap (fatal, with the request_id) and accepts one at the cap', () => {
      const { decoder, events } = collector({ maxBodyBytes: 1000 });
      decoder.push(Buffer.from('{"type":"upload","request_id":"u1","body_bytes":1000}\n'));
      decoder.push(Buffer.alloc(1000, 7));
      decoder.push(Buffer.from('{"type":"upload","request_id":"u2","body_bytes":1001}\n'));
      decoder.push(Buffer.from('{"type":"after"}\n'));
      expect(summary(events)).to.deep.equal([
        { frame: { type: 'upload', request_id: 'u1', body_bytes: 1000 }, body: Buffer.alloc(1000, 7).toString('hex') },
        { code: 'body_too_large', fatal: true, requestId: 'u2' },
      ]);
      expect((events[1] as { error: ProtocolError }).error.details).to.deep.equal({ limit: 1000 });
    });

    it('uses 1 MiB frames and 4 MiB bodies by default', () => {
      const { decoder, events } = collector();
      decoder.push(Buffer.from(`{"type":"x","body_bytes":${DEFAULT_MAX_BODY_BYTES + 1}}\n`));
      expect(summary(events)).to.deep.equal([{ code: 'body_too_large', fatal: true, requestId: undefined }]);
    });

    it('holds a body only up to its announced size, without quadratic copying of small chunks', () => {
      const { decoder, events } = collector();
      const size = 256 * 1024;
      decoder.push(Buffer.from(`{"type":"x","body_bytes":${size}}\n`));
      const body = Buffer.alloc(size);
      for (let i = 0; i < size; i++) body[i] = i & 0xff;
      let maxBuffered = 0;
      for (let i = 0; i < size; i += 3) {
        decoder.push(body.subarray(i, i + 3));
        maxBuffered = Math.max(maxBuffered, decoder.bufferedBytes);
      }
      expect(maxBuffered).to.equal(size - 1);
      expect(events).to.have.length(1);
      expect((events[0] as { body: Buffer }).body.equals(body)).to.equal(true);
      expect(decoder.bufferedBytes).to.equal(0);
    });

    it('buffers a large frame fed one byte at a time', () => {
      const { decoder, events } = collector();
      const frame = Buffer.from(JSON.stringify({ type: 'x', pad: 'p'.repeat(300_000) }) + '\n');
      for (let i = 0; i < frame.length; i++) decoder.push(frame.subarray(i, i + 1));
      expect(events).to.have.length(1);
      expect(events[0].kind).to.equal('frame');
    });
  });

  describe('bad frames', () => {
    it('reports invalid UTF-8 as non-fatal invalid_json, recovers the request_id, and goes on', () => {
      const { decoder, events } = collector();
      decoder.push(bytes('{"type":"x","request_id":"r-utf","text":"', Uint8Array.of(0xc3, 0x28), '"}\n', '{"type":"ok"}\n'));
      decoder.push(bytes(Uint8Array.of(0xff, 0xfe), '\n{"type":"ok2"}\n'));
      expect(summary(events)).to.deep.equal([
        { code: 'invalid_json', fatal: false, requestId: 'r-utf' },
        { frame: { type: 'ok' }, body: undefined },
        { code: 'invalid_json', fatal: false, requestId: undefined },
        { frame: { type: 'ok2' }, body: undefined },
      ]);
    });

    it('reports invalid JSON as non-fatal invalid_json, with the request_id when it can be read', () => {
      const { decoder, events } = collector();
      decoder.push(Buffer.from('{"type":"x", "request_id" : "r-7", oops}\n{"type":"ok"}\nnot json at all\n{"type":"ok2"}\n'));
      expect(summary(events)).to.deep.equal([
        { code: 'invalid_json', fatal: false, requestId: 'r-7' },
        { frame: { type: 'ok' }, body: undefined },
        { code: 'invalid_json', fatal: false, requestId: undefined },
        { frame: { type: 'ok2' }, body: undefined },
      ]);
    });

    it('reports JSON that is not an object, or has no string type, as non-fatal invalid_frame', () => {
      const { decoder, events } = collector();
      decoder.push(Buffer.from(['[1,2]', '"text"', '42', 'null', '{"request_id":"r-9"}', '{"type":5,"request_id":"r-10"}', '{"type":"ok"}'].join('\n') + '\n'));
      expect(summary(events)).to.deep.equal([
        { code: 'invalid_frame', fatal: false, requestId: undefined },
        { code: 'invalid_frame', fatal: false, requestId: undefined },
        { code: 'invalid_frame', fatal: false, requestId: undefined },
        { code: 'invalid_frame', fatal: false, requestId: undefined },
        { code: 'invalid_frame', fatal: false, requestId: 'r-9' },
        { code: 'invalid_frame', fatal: false, requestId: 'r-10' },
        { frame: { type: 'ok' }, body: undefined },
      ]);
    });

    it('reports a bad body_bytes as non-fatal invalid_frame and reads no body', () => {
      const { decoder, events } = collector();
      decoder.push(Buffer.from(['{"type":"a","request_id":"b1","body_bytes":-1}', '{"type":"a","body_bytes":1.5}', '{"type":"a","body_bytes":"10"}', '{"type":"a","body_bytes":null}', '{"type":"ok"}'].join('\n') + '\n'));
      expect(summary(events)).to.deep.equal([
        { code: 'invalid_frame', fatal: false, requestId: 'b1' },
        { code: 'invalid_frame', fatal: false, requestId: undefined },
        { code: 'invalid_frame', fatal: false, requestId: undefined },
        { code: 'invalid_frame', fatal: false, requestId: undefined },
        { frame: { type: 'ok' }, body: undefined },
      ]);
    });

    it('skips the announced body of a frame without a type, so the stream stays in step', () => {
      const { decoder, events } = collector();
      decoder.push(bytes('{"request_id":"nt","body_bytes":4}\n', 'a\nb\n', '{"type":"ok"}\n'));
      expect(summary(events)).to.deep.equal([
        { code: 'invalid_frame', fatal: false, requestId: 'nt' },
        { frame: { type: 'ok' }, body: undefined },
      ]);
    });

    it('recovers only sane request ids from broken text', () => {
      const { decoder, events } = collector();
      decoder.push(Buffer.from(`{"request_id":"${'x'.repeat(129)}", broken\n{"request_id":"a\\"b", broken\n`));
      expect(summary(events)).to.deep.equal([
        { code: 'invalid_json', fatal: false, requestId: undefined },
        { code: 'invalid_json', fatal: false, requestId: undefined },
      ]);
    });

    it('treats a stream that ends inside a frame or a body as fatal invalid_frame', () => {
      const inFrame = collector();
      inFrame.decoder.push(Buffer.from('{"type":"ok"}\n{"type":"cut","request_id":"c1"'));
      inFrame.decoder.end();
      expect(summary(inFrame.events)).to.deep.equal([
        { frame: { type: 'ok' }, body: undefined },
        { code: 'invalid_frame', fatal: true, requestId: 'c1' },
      ]);

      const inBody = collector();
      inBody.decoder.push(Buffer.from('{"type":"up","request_id":"c2","body_bytes":10}\nabc'));
      inBody.decoder.end();
      expect(summary(inBody.events)).to.deep.equal([{ code: 'invalid_frame', fatal: true, requestId: 'c2' }]);

      const clean = collector();
      clean.decoder.push(Buffer.from('{"type":"ok"}\n'));
      clean.decoder.end();
      expect(clean.events).to.have.length(1);
      expect(clean.decoder.closed).to.equal(true);
    });

    it('stops and rethrows when a callback throws, and refuses re-entrant pushes', () => {
      const decoder = new FrameDecoder({
        onFrame: () => {
          throw new Error('handler bug');
        },
        onError: () => undefined,
      });
      expect(() => decoder.push(Buffer.from('{"type":"x"}\n'))).to.throw('handler bug');
      expect(decoder.closed).to.equal(true);

      const reentrant: FrameDecoder = new FrameDecoder({
        onFrame: () => reentrant.push(Buffer.from('{"type":"y"}\n')),
        onError: () => undefined,
      });
      expect(() => reentrant.push(Buffer.from('{"type":"x"}\n'))).to.throw(/must not be called from its own callbacks/);
    });

    it('rejects invalid limits', () => {
      expect(() => new FrameDecoder({ maxFrameBytes: 0, onFrame: () => undefined, onError: () => undefined })).to.throw(RangeError);
      expect(() => new FrameDecoder({ maxBodyBytes: -1, onFrame: () => undefined, onError: () => undefined })).to.throw(RangeError);
    });
  });
});

describe('protocol/framing readFrames', () => {
  it('yields frames with bodies from a chunked stream', async () => {
    const chunks: Buffer[] = [];
    for (let pos = 0; pos < mixedStream.length; pos += 5) chunks.push(mixedStream.subarray(pos, pos + 5));
    const seen: unknown[] = [];
    for await (const { frame, body } of readFrames(Readable.from(chunks))) seen.push({ frame, body: body?.toString('hex') });
    expect(seen).to.have.length(5);
    expect(seen[1]).to.deep.equal({ frame: { type: 'file_chunk', request_id: '2', body_bytes: binaryBody.length }, body: binaryBody.toString('hex') });
  });

  it('passes non-fatal errors to onError and goes on; without onError they end the iteration', async () => {
    const input = Buffer.from('{"type":"a"}\nbroken\n{"type":"b"}\n');
    const errors: string[] = [];
    const types: unknown[] = [];
    for await (const { frame } of readFrames(Readable.from([input]), { onError: (error) => errors.push(error.code) })) types.push(frame.type);
    expect(types).to.deep.equal(['a', 'b']);
    expect(errors).to.deep.equal(['invalid_json']);

    const strictTypes: unknown[] = [];
    let caught: unknown;
    try {
      for await (const { frame } of readFrames(Readable.from([input]))) strictTypes.push(frame.type);
    } catch (error) {
      caught = error;
    }
    expect(strictTypes).to.deep.equal(['a']);
    expect((caught as ProtocolError).code).to.equal('invalid_json');
  });

  it('throws a fatal invalid_frame when the stream ends inside a frame', async () => {
    let caught: unknown;
    const types: unknown[] = [];
    try {
      for await (const { frame } of readFrames(Readable.from([Buffer.from('{"type":"a"}\n{"type":"b"')]))) types.push(frame.type);
    } catch (error) {
      caught = error;
    }
    expect(types).to.deep.equal(['a']);
    expect((caught as ProtocolError).code).to.equal('invalid_frame');
    expect((caught as ProtocolError).fatal).to.equal(true);
  });

  it('refuses a text-mode stream', async () => {
    const stream = Readable.from([Buffer.from('{"type":"a"}\n')]);
    stream.setEncoding('utf8');
    let caught: unknown;
    try {
      for await (const item of readFrames(stream)) expect.fail(String(item));
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(TypeError);
  });

  it('destroys the stream when the loop is left early (unless told not to)', async () => {
    const input = () => Readable.from([Buffer.from('{"type":"a"}\n{"type":"b"}\n')]);
    const destroyed = input();
    for await (const item of readFrames(destroyed)) {
      expect(item.frame.type).to.equal('a');
      break;
    }
    expect(destroyed.destroyed).to.equal(true);

    const kept = input();
    for await (const item of readFrames(kept, { destroyOnReturn: false })) {
      expect(item.frame.type).to.equal('a');
      break;
    }
    expect(kept.destroyed).to.equal(false);
    kept.destroy();
  });
});
