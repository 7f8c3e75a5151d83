import { expect } from 'chai';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { WsFrameDecoder, encodeWsMessages, type WsMessageData } from '../websocket.js';
import { ProtocolError, type Frame } from '../parse.js';

type Event =
  | { kind: 'frame'; frame: Frame; body: Uint8Array | undefined }
  | { kind: 'error'; code: string; fatal: boolean; requestId: string | undefined };

function collector(options: { maxFrameBytes?: number; maxBodyBytes?: number } = {}): { decoder: WsFrameDecoder; events: Event[] } {
  const events: Event[] = [];
  const decoder = new WsFrameDecoder({
    ...options,
    onFrame: (frame, body) => events.push({ kind: 'frame', frame, body }),
    onError: (error, fatal) => {
      expect(error).to.be.instanceOf(ProtocolError);
      expect(error.fatal).to.equal(fatal);
      events.push({ kind: 'error', code: error.code, fatal, requestId: error.requestId });
    },
  });
  return { decoder, events };
}

describe('protocol/websocket WsFrameDecoder', () => {
  it('decodes text frames given as strings, Buffers and ArrayBuffers', () => {
    const { decoder, events } = collector();
    decoder.push('{"type":"a","text":"čau 👋"}', false);
    decoder.push(Buffer.from('{"type":"b"}'), false);
    const array = new TextEncoder().encode('{"type":"c"}');
    decoder.push(array.buffer.slice(array.byteOffset, array.byteOffset + array.byteLength), false);
    expect(events).to.deep.equal([
      { kind: 'frame', frame: { type: 'a', text: 'čau 👋' }, body: undefined },
      { kind: 'frame', frame: { type: 'b' }, body: undefined },
      { kind: 'frame', frame: { type: 'c' }, body: undefined },
    ]);
  });

  it('delivers a body announced by a frame from the next binary message', () => {
    const { decoder, events } = collector();
    decoder.push('{"type":"chunk","request_id":"r1","body_bytes":4}', false);
    expect(decoder.awaitingBody).to.equal(true);
    expect(events).to.have.length(0);
    decoder.push(Uint8Array.of(0, 10, 13, 255), true);
    decoder.push('{"type":"empty","body_bytes":0}', false);
    decoder.push('{"type":"after"}', false);
    expect(events).to.have.length(3);
    expect(events[0]).to.deep.include({ kind: 'frame', frame: { type: 'chunk', request_id: 'r1', body_bytes: 4 } });
    expect([...(events[0] as { body: Uint8Array }).body]).to.deep.equal([0, 10, 13, 255]);
    expect((events[1] as { body: Uint8Array }).body).to.have.length(0);
    expect(events[2]).to.deep.equal({ kind: 'frame', frame: { type: 'after' }, body: undefined });
  });

  it('is fatal when the binary message has the wrong size', () => {
    for (const size of [3, 5]) {
      const { decoder, events } = collector();
      decoder.push('{"type":"chunk","request_id":"r2","body_bytes":4}', false);
      decoder.push(new Uint8Array(size), true);
      decoder.push('{"type":"ignored"}', false);
      expect(events).to.deep.equal([{ kind: 'error', code: 'invalid_frame', fatal: true, requestId: 'r2' }]);
      expect(decoder.closed).to.equal(true);
    }
  });

  it('is fatal on a binary message nobody announced, and on a text message where a body was due', () => {
    const unexpected = collector();
    unexpected.decoder.push(new Uint8Array(3), true);
    expect(unexpected.events).to.deep.equal([{ kind: 'error', code: 'invalid_frame', fatal: true, requestId: undefined }]);

    const textInstead = collector();
    textInstead.decoder.push('{"type":"chunk","body_bytes":2}', false);
    textInstead.decoder.push('{"type":"x"}', false);
    expect(textInstead.events).to.deep.equal([{ kind: 'error', code: 'invalid_frame', fatal: true, requestId: undefined }]);

    const closedEarly = collector();
    closedEarly.decoder.push('{"type":"chunk","request_id":"r3","body_bytes":2}', false);
    closedEarly.decoder.end();
    expect(closedEarly.events).to.deep.equal([{ kind: 'error', code: 'invalid_frame', fatal: true, requestId: 'r3' }]);
  });

  it('applies the frame cap to text messages (counting UTF-8 bytes) and the body cap to announcements', () => {
    const cap = 100;
    // 'ž' is 2 bytes: a string of 80 characters can be 110 bytes.
    const exact = `{"type":"x","t":"${'ž'.repeat(40)}${'a'.repeat(cap - 19 - 80)}"}`;
    expect(Buffer.byteLength(exact)).to.equal(cap);
    const over = `{"type":"x","request_id":"big","t":"${'ž'.repeat(40)}"}`;
    expect(over.length).to.be.below(cap);
    expect(Buffer.byteLength(over)).to.be.above(cap);

    const ok = collector({ maxFrameBytes: cap });
    ok.decoder.push(exact, false);
    ok.decoder.push(Buffer.from(exact), false);
    expect(ok.events.map((e) => e.kind)).to.deep.equal(['frame', 'frame']);

    for (const data of [over, Buffer.from(over)] as WsMessageData[]) {
      const tooBig = collector({ maxFrameBytes: cap });
      tooBig.decoder.push(data, false);
      expect(tooBig.events).to.deep.equal([{ kind: 'error', code: 'frame_too_large', fatal: true, requestId: 'big' }]);
    }

    const body = collector({ maxBodyBytes: 10 });
    body.decoder.push('{"type":"x","request_id":"b","body_bytes":11}', false);
    expect(body.events).to.deep.equal([{ kind: 'error', code: 'body_too_large', fatal: true, requestId: 'b' }]);
  });

  it('reports bad frames as non-fatal and goes on', () => {
    const { decoder, events } = collector();
    decoder.push('{"type":"x","request_id":"j1", nope', false);
    decoder.push(Uint8Array.of(0x7b, 0xff, 0x7d), false);
    decoder.push('[1]', false);
    decoder.push('{"request_id":"t1"}', false);
    decoder.push('{"type":"x","body_bytes":-4}', false);
    decoder.push('{"request_id":"t2","body_bytes":2}', false);
    decoder.push(Uint8Array.of(1, 2), true);
    decoder.push('{"type":"ok"}', false);
    expect(events).to.deep.equal([
      { kind: 'error', code: 'invalid_json', fatal: false, requestId: 'j1' },
      { kind: 'error', code: 'invalid_json', fatal: false, requestId: undefined },
      { kind: 'error', code: 'invalid_frame', fatal: false, requestId: undefined },
      { kind: 'error', code: 'invalid_frame', fatal: false, requestId: 't1' },
      { kind: 'error', code: 'invalid_frame', fatal: false, requestId: undefined },
      { kind: 'error', code: 'invalid_frame', fatal: false, requestId: 't2' },
      { kind: 'frame', frame: { type: 'ok' }, body: undefined },
    ]);
  });
});

describe('protocol/websocket encodeWsMessages', () => {
  it('encodes a text message, then the body as a binary message', () => {
    const frame = { type: 'x', request_id: 'r' };
    expect(encodeWsMessages(frame)).to.deep.equal([{ data: '{"type":"x","request_id":"r"}', binary: false }]);
    const body = Uint8Array.of(5, 6);
    const messages = encodeWsMessages(frame, body);
    expect(messages).to.have.length(2);
    expect(JSON.parse(messages[0].data as string)).to.deep.equal({ ...frame, body_bytes: 2 });
    expect(messages[1]).to.deep.equal({ data: body, binary: true });
    expect(frame).to.not.have.property('body_bytes');
    expect(encodeWsMessages(frame, new Uint8Array(0))).to.deep.equal([{ data: '{"type":"x","request_id":"r","body_bytes":0}', binary: false }]);
  });

  it('refuses frames and bodies above the caps', () => {
    expect(() => encodeWsMessages({ type: 'x', t: 'ž'.repeat(30) }, undefined, { maxFrameBytes: 50 })).to.throw(ProtocolError).with.property('code', 'frame_too_large');
    expect(() => encodeWsMessages({ type: 'x' }, new Uint8Array(5), { maxBodyBytes: 4 })).to.throw(ProtocolError).with.property('code', 'body_too_large');
    expect(() => encodeWsMessages({ type: 'x', body_bytes: 1 })).to.throw(ProtocolError).with.property('code', 'invalid_frame');
  });
});

describe('protocol/websocket over a real ws server', () => {
  it('round-trips frames and binary bodies', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 5 * 1024 * 1024 });
    await once(server, 'listening');
    const serverErrors: string[] = [];
    server.on('connection', (socket) => {
      const decoder = new WsFrameDecoder({
        onFrame: (frame, body) => {
          const { body_bytes: _announced, ...rest } = frame;
          for (const message of encodeWsMessages({ ...rest, echoed: true }, body)) socket.send(message.data, { binary: message.binary });
        },
        onError: (error, fatal) => {
          serverErrors.push(error.code);
          if (fatal) socket.close(1008, error.code);
        },
      });
      socket.on('message', (data: RawData, isBinary: boolean) => decoder.push(data as Buffer, isBinary));
      socket.on('close', () => decoder.end());
    });
    const { port } = server.address() as { port: number };
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    await once(client, 'open');
    try {
      const received: Array<{ frame: Frame; body: Uint8Array | undefined }> = [];
      const sizes = [0, 1, 100, 70_000, 4 * 1024 * 1024];
      const bodies = sizes.map((size) => randomBytes(size));
      const done = new Promise<void>((resolve, reject) => {
        const decoder = new WsFrameDecoder({
          onFrame: (frame, body) => {
            received.push({ frame, body });
            if (received.length === sizes.length + 1) resolve();
          },
          onError: (error) => reject(error),
        });
        client.on('message', (data: RawData, isBinary: boolean) => decoder.push(data as Buffer, isBinary));
      });
      for (let i = 0; i < bodies.length; i++) {
        for (const message of encodeWsMessages({ type: 'upload', request_id: `w${i}`, name: `soubor ${i}` }, bodies[i])) {
          client.send(message.data, { binary: message.binary });
        }
      }
      for (const message of encodeWsMessages({ type: 'ping' })) client.send(message.data, { binary: message.binary });
      await done;
      for (let i = 0; i < bodies.length; i++) {
        expect(received[i].frame).to.deep.equal({ type: 'upload', request_id: `w${i}`, name: `soubor ${i}`, echoed: true, body_bytes: sizes[i] });
        expect(Buffer.from(received[i].body!).equals(bodies[i]), `body ${i}`).to.equal(true);
      }
      expect(received[sizes.length].frame).to.deep.equal({ type: 'ping', echoed: true });

      // An unannounced binary message is fatal: the server closes the connection.
      const closed = once(client, 'close');
      client.send(Uint8Array.of(1, 2, 3), { binary: true });
      const [code, reason] = await closed;
      expect(code).to.equal(1008);
      expect(String(reason)).to.equal('invalid_frame');
      expect(serverErrors).to.deep.equal(['invalid_frame']);
    } finally {
      client.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
