import { expect } from 'chai';
import { once } from 'node:events';
import net from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { FrameWriter, encodeFrame, readFrames, type DecodedFrame } from '../framing.js';
import { ProtocolError } from '../parse.js';
import { KecalekError } from '../../errors.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('protocol/framing encodeFrame', () => {
  it('encodes JSON plus newline, and sets body_bytes without touching the caller\'s object', () => {
    const frame = { type: 'x', request_id: 'r1', text: 'ahoj\nsvěte' };
    const [header, ...rest] = encodeFrame(frame);
    expect(rest).to.have.length(0);
    expect(header.toString('utf8')).to.equal(`${JSON.stringify(frame)}\n`);

    const body = Uint8Array.of(1, 2, 3);
    const parts = encodeFrame(frame, body);
    expect(parts).to.have.length(2);
    expect(JSON.parse(parts[0].toString('utf8'))).to.deep.equal({ ...frame, body_bytes: 3 });
    expect([...parts[1]]).to.deep.equal([1, 2, 3]);
    expect(frame).to.not.have.property('body_bytes');
  });

  it('writes body_bytes 0 and no body part for an empty body', () => {
    const parts = encodeFrame({ type: 'x' }, new Uint8Array(0));
    expect(parts).to.have.length(1);
    expect(JSON.parse(parts[0].toString())).to.deep.equal({ type: 'x', body_bytes: 0 });
  });

  it('refuses frames and bodies above the caps, and a body_bytes without a body', () => {
    const tooBig = (): Buffer[] => encodeFrame({ type: 'x', request_id: 'big', pad: 'a'.repeat(100) }, undefined, { maxFrameBytes: 50 });
    expect(tooBig).to.throw(ProtocolError).with.property('code', 'frame_too_large');
    try {
      tooBig();
    } catch (error) {
      expect((error as ProtocolError).fatal).to.equal(false);
      expect((error as ProtocolError).requestId).to.equal('big');
      expect((error as ProtocolError).frameType).to.equal('x');
    }
    expect(() => encodeFrame({ type: 'x' }, new Uint8Array(11), { maxBodyBytes: 10 })).to.throw(ProtocolError).with.property('code', 'body_too_large');
    expect(() => encodeFrame({ type: 'x', body_bytes: 3 })).to.throw(ProtocolError).with.property('code', 'invalid_frame');
    // Exactly at the cap is fine.
    const exact = { type: 'x', pad: '' };
    const size = Buffer.byteLength(JSON.stringify(exact));
    expect(encodeFrame(exact, undefined, { maxFrameBytes: size })).to.have.length(1);
    expect(() => encodeFrame(exact, undefined, { maxFrameBytes: size - 1 })).to.throw(ProtocolError);
  });
});

describe('protocol/framing FrameWriter', () => {
  it('writes frames and bodies that decode back, in call order', async () => {
    const stream = new PassThrough();
    const writer = new FrameWriter(stream);
    const body = randomBytes(5000);
    await writer.send({ type: 'a', n: 1 });
    await writer.send({ type: 'b', n: 2 }, body);
    writer.sendNow({ type: 'c', n: 3 });
    await writer.close();
    const received: DecodedFrame[] = [];
    for await (const item of readFrames(stream)) received.push(item);
    expect(received.map((r) => r.frame)).to.deep.equal([
      { type: 'a', n: 1 },
      { type: 'b', n: 2, body_bytes: 5000 },
      { type: 'c', n: 3 },
    ]);
    expect(received[1].body!.equals(body)).to.equal(true);
  });

  it('waits for drain when the buffer is full, and delivers many large frames intact and in order', async () => {
    const stream = new PassThrough({ highWaterMark: 1024 });
    const writer = new FrameWriter(stream);
    const bodies = Array.from({ length: 40 }, (_, i) => randomBytes(20_000 + i * 1000));

    // Nobody reads yet: the first send fills the buffer and must not resolve.
    let firstResolved = false;
    const first = writer.send({ type: 'chunk', i: 0, pad: 'x'.repeat(3000) }, bodies[0]).then(() => {
      firstResolved = true;
    });
    expect(writer.congested).to.equal(true);
    await tick();
    await tick();
    expect(firstResolved).to.equal(false);

    // Concurrent senders: each frame stays next to its body.
    const rest = Promise.all(bodies.slice(1).map((body, j) => writer.send({ type: 'chunk', i: j + 1, pad: 'x'.repeat(3000) }, body)));
    const reading = (async () => {
      const received: DecodedFrame[] = [];
      for await (const item of readFrames(stream, { destroyOnReturn: false })) {
        received.push(item);
        if (received.length === bodies.length) break;
        // A slow reader.
        await tick();
      }
      return received;
    })();
    await first;
    expect(firstResolved).to.equal(true);
    await rest;
    const received = await reading;
    expect(received.map((r) => r.frame.i)).to.deep.equal(bodies.map((_, i) => i));
    received.forEach((item, i) => {
      expect(item.frame.body_bytes).to.equal(bodies[i].length);
      expect(item.body!.equals(bodies[i]), `body ${i}`).to.equal(true);
    });
  });

  it('reports from sendNow whether the buffer is above its high-water mark', () => {
    const stream = new PassThrough({ highWaterMark: 100 });
    const writer = new FrameWriter(stream);
    expect(writer.sendNow({ type: 'small' })).to.equal(true);
    expect(writer.sendNow({ type: 'big', pad: 'p'.repeat(200) })).to.equal(false);
    expect(writer.congested).to.equal(true);
  });

  it('refuses a frame above the peer\'s cap before writing anything', async () => {
    const stream = new PassThrough();
    const writer = new FrameWriter(stream, { maxFrameBytes: 100, maxBodyBytes: 10 });
    let caught: unknown;
    try {
      await writer.send({ type: 'x', pad: 'a'.repeat(200) });
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(ProtocolError);
    expect((caught as ProtocolError).code).to.equal('frame_too_large');
    expect(() => writer.sendNow({ type: 'x' }, new Uint8Array(11))).to.throw(ProtocolError);
    expect(stream.writableLength).to.equal(0);
    expect(stream.read()).to.equal(null);
  });

  it('rejects with connection_closed after close(), and when the stream dies while waiting for drain', async () => {
    const closedStream = new PassThrough();
    const closedWriter = new FrameWriter(closedStream);
    await closedWriter.close();
    let caught: unknown;
    try {
      await closedWriter.send({ type: 'late' });
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(KecalekError);
    expect((caught as KecalekError).code).to.equal('connection_closed');
    expect(closedWriter.closed).to.equal(true);
    await closedWriter.close(); // idempotent

    const dying = new PassThrough({ highWaterMark: 10 });
    const writer = new FrameWriter(dying);
    const waiting = writer.send({ type: 'fill', pad: 'x'.repeat(100) });
    const alsoWaiting = writer.send({ type: 'fill2' });
    await tick();
    dying.destroy();
    for (const promise of [waiting, alsoWaiting]) {
      caught = undefined;
      try {
        await promise;
      } catch (error) {
        caught = error;
      }
      expect((caught as KecalekError).code).to.equal('connection_closed');
    }
    expect(() => writer.sendNow({ type: 'x' })).to.throw(KecalekError);
  });

  it('rejects a pending send when the stream errors, and leaves no listeners behind', async () => {
    const failing = new Writable({
      highWaterMark: 10,
      write(_chunk, _encoding, callback) {
        setImmediate(() => callback(new Error('EPIPE-like failure')));
      },
    });
    failing.on('error', () => undefined); // the owner's handler
    const writer = new FrameWriter(failing);
    let caught: unknown;
    try {
      await writer.send({ type: 'x', pad: 'y'.repeat(50) });
    } catch (error) {
      caught = error;
    }
    expect((caught as KecalekError).code).to.equal('connection_closed');
    expect(failing.listenerCount('drain')).to.equal(0);
    expect(failing.listenerCount('error')).to.equal(1);
  });

  it('sends one encoded frame to several writers (fan-out) and checks it against each cap', async () => {
    const parts = encodeFrame({ type: 'event', text: 'to everyone' }, Uint8Array.of(9, 8, 7));
    const streams = [new PassThrough(), new PassThrough()];
    const writers = streams.map((s) => new FrameWriter(s));
    await Promise.all(writers.map((w) => w.sendEncoded(parts)));
    await Promise.all(writers.map((w) => w.close()));
    for (const stream of streams) {
      const received: DecodedFrame[] = [];
      for await (const item of readFrames(stream)) received.push(item);
      expect(received).to.have.length(1);
      expect(received[0].frame).to.deep.equal({ type: 'event', text: 'to everyone', body_bytes: 3 });
      expect([...received[0].body!]).to.deep.equal([9, 8, 7]);
    }
    const small = new FrameWriter(new PassThrough(), { maxFrameBytes: 10 });
    expect(() => small.sendEncodedNow(parts)).to.throw(ProtocolError).with.property('code', 'frame_too_large');
    expect(() => small.sendEncodedNow([Buffer.from('no newline')])).to.throw(TypeError);
  });

  it('round-trips frames and binary bodies over a real TCP connection', async () => {
    // An echo server: every frame comes back with its body and an echo flag.
    const server = net.createServer((socket) => {
      const writer = new FrameWriter(socket);
      void (async () => {
        try {
          for await (const { frame, body } of readFrames(socket, { destroyOnReturn: false })) {
            const { body_bytes: _announced, ...rest } = frame;
            await writer.send({ ...rest, echoed: true }, body);
          }
          await writer.close();
        } catch {
          socket.destroy();
        }
      })();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    try {
      const writer = new FrameWriter(socket);
      const sizes = [0, 1, 10, 1000, 65_535, 65_536, 300_000, 1_000_000, 4 * 1024 * 1024];
      const bodies = sizes.map((size) => randomBytes(size));
      const sending = (async () => {
        for (let i = 0; i < bodies.length; i++) {
          await writer.send({ type: 'upload', request_id: `r${i}`, text: `část ${i} ✓` }, bodies[i]);
          await writer.send({ type: 'ping', request_id: `p${i}` });
        }
      })();
      const received: DecodedFrame[] = [];
      for await (const item of readFrames(socket, { destroyOnReturn: false })) {
        received.push(item);
        if (received.length === bodies.length * 2) break;
      }
      await sending;
      for (let i = 0; i < bodies.length; i++) {
        const upload = received[i * 2];
        expect(upload.frame).to.deep.equal({ type: 'upload', request_id: `r${i}`, text: `část ${i} ✓`, echoed: true, body_bytes: sizes[i] });
        expect(upload.body!.equals(bodies[i]), `body ${i}`).to.equal(true);
        expect(received[i * 2 + 1].frame).to.deep.equal({ type: 'ping', request_id: `p${i}`, echoed: true });
        expect(received[i * 2 + 1].body).to.equal(undefined);
      }
      await writer.close();
    } finally {
      socket.destroy();
      server.close();
    }
  });
});
