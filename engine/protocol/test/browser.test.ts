/**
 * The browser entry point bundles for the browser (no Node built-ins), and works in a context that
 * has no Buffer and refuses code generation, as the renderer's CSP (no 'unsafe-eval') does.
 */
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { build } from 'esbuild';

const entry = fileURLToPath(new URL('../browser.ts', import.meta.url));

describe('protocol/browser bundle', function () {
  let bundle: string;

  before(async function () {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'browser',
      format: 'iife',
      globalName: 'KecalekProtocol',
      write: false,
      logLevel: 'silent',
    });
    expect(result.errors).to.deep.equal([]);
    bundle = result.outputFiles[0].text;
  });

  it('pulls in no Node built-in modules', () => {
    expect(bundle).to.not.match(/\brequire\(["']node:/);
    expect(bundle).to.not.match(/from ["']node:/);
  });

  it('runs without Buffer and without eval: base64, validation, WebSocket frames, request ids', () => {
    const context = vm.createContext(
      { TextDecoder, TextEncoder, crypto: globalThis.crypto },
      { codeGeneration: { strings: false, wasm: false } },
    );
    vm.runInContext(bundle, context);
    // A JSON schema literal: the bundle has no TypeBox builders, only what browser.ts exports.
    const schema = JSON.stringify({
      type: 'object',
      required: ['ids', 'name'],
      properties: {
        ids: { type: 'array', items: { type: 'string', pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' } },
        name: { type: 'string', minLength: 1 },
      },
    });
    const result = vm.runInContext(
      `(() => {
        const P = KecalekProtocol;
        const out = {};
        out.hasBuffer = typeof Buffer !== 'undefined';
        out.evalRefused = (() => { try { new Function('return 1'); return false; } catch (e) { return e instanceof EvalError; } })();

        const bytes = new Uint8Array(70);
        for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 37) & 0xff;
        out.base64 = P.encodeBase64(bytes);
        out.base64Url = P.encodeBase64Url(bytes);
        out.roundTrip = Array.from(P.decodeBase64(out.base64, 'f')).join(',') === Array.from(bytes).join(',');
        out.roundTripUrl = Array.from(P.decodeBase64Url(out.base64Url, 'f')).join(',') === Array.from(bytes).join(',');
        try { P.decodeBase64('QR==', 'key'); } catch (e) { out.base64Error = { code: e.code, details: e.details }; }

        const validate = P.compileSchema(${schema});
        out.accelerated = validate.accelerated;
        out.valid = validate.check({ ids: ['00000000-0000-0000-0000-000000000000'], name: 'x' });
        try { validate({ ids: ['00000000-0000-0000-0000-000000000000', 'nope'], name: 'x' }); } catch (e) { out.validationError = { code: e.code, field: e.details.field }; }

        const frames = [];
        const decoder = new P.WsFrameDecoder({ onFrame: (frame, body) => frames.push({ frame, body: body && Array.from(body) }), onError: (e) => frames.push({ error: e.code }) });
        for (const m of P.encodeWsMessages({ type: 'chunk', request_id: 'r' }, new Uint8Array([1, 2, 3]))) decoder.push(m.data, m.binary);
        decoder.push(new Uint8Array([9]).buffer, true);
        out.frames = frames;

        out.requestId = P.newRequestId();
        return JSON.stringify(out);
      })()`,
      context,
    ) as string;
    const out = JSON.parse(result) as Record<string, unknown>;
    const expectedBytes = Buffer.from(Array.from({ length: 70 }, (_, i) => (i * 37) & 0xff));
    expect(out.hasBuffer).to.equal(false);
    expect(out.evalRefused).to.equal(true);
    expect(out.base64).to.equal(expectedBytes.toString('base64'));
    expect(out.base64Url).to.equal(expectedBytes.toString('base64url'));
    expect(out.roundTrip).to.equal(true);
    expect(out.roundTripUrl).to.equal(true);
    expect(out.base64Error).to.deep.equal({ code: 'invalid_base64', details: { field: 'key' } });
    expect(out.accelerated).to.equal(false);
    expect(out.valid).to.equal(true);
    expect(out.validationError).to.deep.equal({ code: 'bad_request', field: 'ids[1]' });
    expect(out.frames).to.deep.equal([
      { frame: { type: 'chunk', request_id: 'r', body_bytes: 3 }, body: [1, 2, 3] },
      { error: 'invalid_frame' },
    ]);
    expect(out.requestId).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
