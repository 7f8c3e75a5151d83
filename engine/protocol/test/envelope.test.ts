import { expect } from 'chai';
import {
  INTERNAL_ERROR_MESSAGE,
  errorResponse,
  helloFrame,
  isErrorResponse,
  isPushFrame,
  isResponseFrame,
  newRequestId,
  okResponse,
  parseHello,
  protocolErrorFrame,
  pushFrame,
  type HelloData,
} from '../envelope.js';
import { ProtocolError } from '../parse.js';
import { ClientError, CryptoError, KecalekError, StartupError, WireError, errors } from '../../errors.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('protocol/envelope', () => {
  it('builds ok responses and push frames', () => {
    expect(okResponse('get_me', 'r1', { user_id: 'u' })).to.deep.equal({ type: 'get_me', request_id: 'r1', status: 'ok', data: { user_id: 'u' } });
    expect(pushFrame('new_message', { id: 1 })).to.deep.equal({ type: 'new_message', data: { id: 1 } });
  });

  it('keeps a wire error\'s code, message and details', () => {
    expect(errorResponse('send_message', 'r2', errors.badRequest('recipients[0].device_id', 'recipients[0].device_id is required'))).to.deep.equal({
      type: 'send_message',
      request_id: 'r2',
      status: 'error',
      data: { code: 'bad_request', message: 'recipients[0].device_id is required', field: 'recipients[0].device_id' },
    });
    expect(errorResponse('x', 'r3', errors.rateLimited(1234.2)).data).to.deep.equal({
      code: 'rate_limited',
      message: 'Too many requests, slow down',
      retry_after_ms: 1235,
    });
    expect(errorResponse('x', 'r4', { code: 'not_found', message: 'No such conversation', details: { id: 'c1' } }).data).to.deep.equal({
      code: 'not_found',
      message: 'No such conversation',
      id: 'c1',
    });
    // A client error carrying a wire code is a wire error too.
    expect(errorResponse('x', 'r5', new ClientError('forbidden', 'Not yours')).data).to.deep.equal({ code: 'forbidden', message: 'Not yours' });
  });

  it('never leaks the text of an unknown error', () => {
    const secrets = [
      new Error('ECONNREFUSED 10.0.0.5:3306 password=hunter2'),
      new TypeError("Cannot read properties of undefined (reading 'secret_key')"),
      Object.assign(new Error('db down'), { code: 'not_found', details: { host: 'db.internal' } }),
      new CryptoError('decrypt_failed', 'tag mismatch for key 0xdeadbeef'),
      new StartupError('config_invalid', 'bad DSN mysql://root:pw@db'),
      new KecalekError('store_corrupt', 'store at /home/user is corrupt'),
      { code: 'made_up_code', message: 'internal detail' },
      { code: 'bad_request', message: 42 },
      'a thrown string with a secret',
      undefined,
      null,
      42,
    ];
    for (const error of secrets) {
      const response = errorResponse('x', 'r', error);
      expect(response.data, String(error)).to.deep.equal({ code: 'internal_error', message: INTERNAL_ERROR_MESSAGE });
    }
  });

  it('sends only wire-safe details, which cannot override code or message', () => {
    class Handle {
      fd = 3;
    }
    const details = {
      field: 'name',
      count: 2,
      ok: true,
      none: null,
      devices: [{ user_id: 'u1', device_ids: ['d1', 'd2'] }, () => 'fn'],
      nan: Number.NaN,
      infinite: Number.POSITIVE_INFINITY,
      big: 10n,
      fn: () => 'secret',
      symbol: Symbol('s'),
      error: new Error('secret'),
      instance: new Handle(),
      date: new Date(0),
      undefinedValue: undefined,
      deep: { a: { b: { c: { d: 'too deep' } } } },
      code: 'internal_error',
      message: 'overridden',
    };
    const json = JSON.parse('{"__proto__": {"polluted": true}, "kept": 1}') as Record<string, unknown>;
    const data = errorResponse('x', 'r', new WireError('device_mismatch', 'Devices changed', { ...details, json })).data;
    expect(data).to.deep.equal({
      code: 'device_mismatch',
      message: 'Devices changed',
      field: 'name',
      count: 2,
      ok: true,
      none: null,
      devices: [{ user_id: 'u1', device_ids: ['d1', 'd2'] }],
      deep: { a: { b: {} } },
      json: { kept: 1 },
    });
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
    expect(Object.getPrototypeOf(data.json)).to.equal(Object.prototype);
  });

  it('answers undecodable frames with an error response, or a protocol_error push without a request_id', () => {
    const withId = new ProtocolError('invalid_json', 'Frame is not valid JSON', { requestId: 'r9', frameType: 'send_message' });
    expect(protocolErrorFrame(withId)).to.deep.equal({
      type: 'send_message',
      request_id: 'r9',
      status: 'error',
      data: { code: 'invalid_json', message: 'Frame is not valid JSON' },
    });
    const idOnly = new ProtocolError('invalid_json', 'Frame is not valid JSON', { requestId: 'r10' });
    expect(protocolErrorFrame(idOnly)).to.include({ type: 'protocol_error', request_id: 'r10', status: 'error' });
    const anonymous = new ProtocolError('frame_too_large', 'Frame is larger than the limit of 10 bytes', { fatal: true, details: { limit: 10 } });
    expect(protocolErrorFrame(anonymous)).to.deep.equal({
      type: 'protocol_error',
      data: { code: 'frame_too_large', message: 'Frame is larger than the limit of 10 bytes', limit: 10 },
    });
  });

  it('tells responses from push frames', () => {
    const ok = okResponse('a', 'r', 1);
    const failed = errorResponse('a', 'r', errors.notFound());
    const unanswerable = errorResponse('a', null, errors.notFound());
    const push = pushFrame('event', {});
    expect([ok, failed, unanswerable, push].map(isResponseFrame)).to.deep.equal([true, true, true, false]);
    expect([ok, failed, unanswerable, push].map(isPushFrame)).to.deep.equal([false, false, false, true]);
    expect(isErrorResponse(failed)).to.equal(true);
    expect(isErrorResponse(ok)).to.equal(false);
    for (const junk of [null, 'x', [], { type: 1, data: {} }, { type: 'a', request_id: 'r', status: 'error', data: { code: 1 } }, { type: 'a', request_id: 'r', status: 'maybe', data: 1 }]) {
      expect(isResponseFrame(junk), JSON.stringify(junk)).to.equal(false);
    }
    expect(isPushFrame({ type: 'a', request_id: 'r' })).to.equal(false);
  });

  it('parses the hello frame and refuses malformed ones with protocol_mismatch', () => {
    const data: HelloData = {
      protocol_version: 1,
      server_version: '0.1.0',
      plugins: [{ name: 'reactions', version: '1.0.0' }],
      limits: { max_frame_bytes: 1048576, max_body_bytes: 4194304 },
      future_field: { anything: true },
    };
    expect(parseHello(helloFrame(data))).to.deep.equal(data);
    expect(isPushFrame(helloFrame(data))).to.equal(true);
    const broken: unknown[] = [
      null,
      { type: 'welcome', data },
      { type: 'hello' },
      { type: 'hello', data: { ...data, protocol_version: '1' } },
      { type: 'hello', data: { ...data, protocol_version: 1.5 } },
      { type: 'hello', data: { ...data, server_version: 1 } },
      { type: 'hello', data: { ...data, plugins: {} } },
      { type: 'hello', data: { ...data, plugins: [{ name: 'x' }] } },
      { type: 'hello', data: { ...data, limits: null } },
      { type: 'hello', data: { ...data, limits: { max_frame_bytes: '1' } } },
    ];
    for (const frame of broken) {
      expect(() => parseHello(frame), JSON.stringify(frame)).to.throw(ClientError).with.property('code', 'protocol_mismatch');
    }
  });

  it('makes random v4 request ids, also where randomUUID is missing', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newRequestId()));
    expect(ids.size).to.equal(1000);
    for (const id of ids) expect(id).to.match(UUID_V4);

    Object.defineProperty(globalThis.crypto, 'randomUUID', { value: undefined, configurable: true, writable: true });
    try {
      const fallback = Array.from({ length: 200 }, () => newRequestId());
      for (const id of fallback) expect(id).to.match(UUID_V4);
      expect(new Set(fallback).size).to.equal(200);
    } finally {
      delete (globalThis.crypto as { randomUUID?: unknown }).randomUUID;
    }
    expect(typeof globalThis.crypto.randomUUID).to.equal('function');
  });
});
