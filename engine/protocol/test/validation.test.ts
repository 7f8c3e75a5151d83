import { expect } from 'chai';
import { Type } from 'typebox';
import { randomBytes } from 'node:crypto';
import { Base64, Email, NonEmptyString, TimestampMs, Username, Uuid, compileSchema, type FieldError } from '../validation.js';
import { decodeBase64, encodeBase64 } from '../base64.js';
import { SELF_DEVICE_ID } from '../constants.js';
import { WireError } from '../../errors.js';

const SendMessage = Type.Object({
  type: Type.Literal('send_message'),
  request_id: Type.String(),
  conversation_id: Uuid(),
  text: Type.Optional(NonEmptyString(100)),
  sent_at: TimestampMs(),
  recipients: Type.Array(
    Type.Object({
      user_id: Uuid(),
      device_id: Uuid(),
      ciphertext: Base64(64),
    }),
    { maxItems: 50 },
  ),
  reply_to: Type.Union([Uuid(), Type.Null()]),
  kind: Type.Union([Type.Literal('text'), Type.Literal('file'), Type.Literal('image')]),
  headers: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 5 }))),
});

const uuid = (n: number): string => `${n.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`;
const valid = () => ({
  type: 'send_message',
  request_id: 'r1',
  conversation_id: uuid(1),
  text: 'ahoj',
  sent_at: 1_700_000_000_000,
  recipients: [0, 1, 2].map((i) => ({ user_id: uuid(10 + i), device_id: uuid(20 + i), ciphertext: encodeBase64(Uint8Array.of(i, i, i)) })),
  reply_to: null,
  kind: 'text',
});

function badRequest(fn: () => unknown): FieldError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).to.be.instanceOf(WireError);
  const error = caught as WireError;
  expect(error.code).to.equal('bad_request');
  expect(error.details?.field).to.be.a('string');
  return { field: error.details!.field as string, message: error.message };
}

describe('protocol/validation compileSchema', () => {
  const validate = compileSchema(SendMessage);

  it('returns the valid value, typed, and allows unknown extra fields', () => {
    const value = { ...valid(), added_in_a_later_version: { anything: true } };
    const result = validate(value);
    expect(result).to.equal(value);
    expect(result.recipients[0].device_id).to.equal(uuid(20));
    expect(validate.check(value)).to.equal(true);
    expect(validate.firstError(value)).to.equal(undefined);
    expect(validate.accelerated).to.equal(true);
    expect(validate.schema).to.equal(SendMessage);
  });

  it('names a missing field', () => {
    const { conversation_id: _omit, ...value } = valid();
    expect(badRequest(() => validate(value))).to.deep.equal({ field: 'conversation_id', message: 'conversation_id is required' });
    const { device_id: _device, ...recipient } = valid().recipients[1];
    const nested = { ...valid(), recipients: [valid().recipients[0], recipient] };
    expect(badRequest(() => validate(nested))).to.deep.equal({ field: 'recipients[1].device_id', message: 'recipients[1].device_id is required' });
  });

  it('names a field of the wrong type', () => {
    expect(badRequest(() => validate({ ...valid(), request_id: 5 }))).to.deep.equal({ field: 'request_id', message: 'request_id must be a string' });
    expect(badRequest(() => validate({ ...valid(), sent_at: 1.5 }))).to.deep.equal({ field: 'sent_at', message: 'sent_at must be an integer' });
    expect(badRequest(() => validate({ ...valid(), sent_at: -1 }))).to.deep.equal({ field: 'sent_at', message: 'sent_at must be at least 0' });
    expect(badRequest(() => validate({ ...valid(), recipients: {} }))).to.deep.equal({ field: 'recipients', message: 'recipients must be an array' });
    expect(badRequest(() => validate({ ...valid(), conversation_id: 7 }))).to.deep.equal({ field: 'conversation_id', message: 'conversation_id must be a string' });
  });

  it('names the path of a bad item in a nested array', () => {
    const value = valid();
    value.recipients[2].device_id = 'not-a-uuid';
    expect(badRequest(() => validate(value))).to.deep.equal({
      field: 'recipients[2].device_id',
      message: 'recipients[2].device_id must be a lowercase UUID (8-4-4-4-12 hex digits)',
    });
  });

  it('reports too-long strings, empty strings and too many items', () => {
    expect(badRequest(() => validate({ ...valid(), text: 'x'.repeat(101) }))).to.deep.equal({ field: 'text', message: 'text must be at most 100 characters' });
    expect(badRequest(() => validate({ ...valid(), text: '' }))).to.deep.equal({ field: 'text', message: 'text must not be empty' });
    // Length is counted in characters (code points), not UTF-16 units.
    expect(validate.check({ ...valid(), text: '🐴'.repeat(100) })).to.equal(true);
    const many = { ...valid(), recipients: Array.from({ length: 51 }, () => valid().recipients[0]) };
    expect(badRequest(() => validate(many))).to.deep.equal({ field: 'recipients', message: 'recipients must have at most 50 items' });
  });

  it('reports invalid uuid and base64 patterns with readable messages', () => {
    for (const bad of ['A0000000-0000-4000-8000-000000000000', '00000000000040008000000000000000', `{${uuid(1)}}`, `${uuid(1)} `]) {
      expect(badRequest(() => validate({ ...valid(), conversation_id: bad })).field).to.equal('conversation_id');
    }
    const value = valid();
    value.recipients[1].ciphertext = 'not base64!';
    expect(badRequest(() => validate(value))).to.deep.equal({
      field: 'recipients[1].ciphertext',
      message: 'recipients[1].ciphertext must be base64 (standard alphabet, padded) of at most 64 bytes',
    });
  });

  it('describes unions by the union, not by its first variant', () => {
    expect(badRequest(() => validate({ ...valid(), reply_to: 5 }))).to.deep.equal({
      field: 'reply_to',
      message: 'reply_to does not match any of the allowed forms',
    });
    expect(badRequest(() => validate({ ...valid(), kind: 'video' }))).to.deep.equal({
      field: 'kind',
      message: 'kind must be one of "text", "file", "image"',
    });
    const nullable = compileSchema(Type.Object({ note: Type.Union([Type.String(), Type.Null()]) }));
    expect(badRequest(() => nullable({ note: 1 }))).to.deep.equal({ field: 'note', message: 'note must be a string or null' });
    // Many variants overflow TypeBox's error buffer; the union is still what is reported.
    const manyLiterals = compileSchema(Type.Object({ c: Type.Array(Type.Union(Array.from({ length: 12 }, (_, i) => Type.Literal(`v${i}`)))) }));
    expect(badRequest(() => manyLiterals({ c: ['v1', 'nope'] }))).to.deep.equal({
      field: 'c[1]',
      message: 'c[1] must be one of "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", ...',
    });
    // Errors deep inside an object variant are lifted to the union's own path.
    const shapes = compileSchema(Type.Object({
      items: Type.Array(Type.Union([Type.Object({ a: Type.String() }), Type.Object({ b: Type.Object({ c: Type.Integer() }) })])),
    }));
    expect(badRequest(() => shapes({ items: [{ a: 'x' }, { b: { c: 'no' } }] })).field).to.equal('items[1]');
  });

  it('quotes keys that are not identifiers, and distinguishes numeric keys from indexes', () => {
    expect(badRequest(() => validate({ ...valid(), headers: { 'x-long header': 'too long' } }))).to.deep.equal({
      field: 'headers["x-long header"]',
      message: 'headers["x-long header"] must be at most 5 characters',
    });
    expect(badRequest(() => validate({ ...valid(), headers: { '0': 'too long' } })).field).to.equal('headers["0"]');
    expect(badRequest(() => validate({ ...valid(), headers: { a: 'too long' } })).field).to.equal('headers.a');
  });

  it('reports a wrong root value and not-allowed properties', () => {
    expect(badRequest(() => validate(null))).to.deep.equal({ field: '', message: 'Value must be an object' });
    const strict = compileSchema(Type.Object({ a: Type.String() }, { additionalProperties: false }));
    expect(badRequest(() => strict({ a: 'x', extra: 1 }))).to.deep.equal({ field: 'extra', message: 'extra is not allowed' });
  });

  it('uses a schema\'s own errorMessage', () => {
    const colour = compileSchema(Type.Object({ colour: Type.String({ pattern: '^#[0-9a-f]{6}$', errorMessage: { pattern: 'must be a hex colour' } }) }));
    expect(badRequest(() => colour({ colour: 'red' })).message).to.equal('colour must be a hex colour');
    expect(badRequest(() => colour({ colour: 1 })).message).to.equal('colour must be a string');
  });

  it('throws at compile time for a broken schema', () => {
    expect(() => compileSchema(Type.String({ pattern: '([a-z' }))).to.throw();
  });

  it('falls back to dynamic checking when generated code is refused (CSP without unsafe-eval)', () => {
    const original = globalThis.Function;
    const refusing = function Refused(): never {
      throw new EvalError("Refused to evaluate a string as JavaScript because 'unsafe-eval' is not allowed");
    } as unknown as FunctionConstructor;
    let fallback: ReturnType<typeof compileSchema<typeof SendMessage>>;
    globalThis.Function = refusing;
    try {
      fallback = compileSchema(SendMessage);
    } finally {
      globalThis.Function = original;
    }
    expect(fallback.accelerated).to.equal(false);
    expect(fallback(valid())).to.deep.equal(valid());
    const value = valid();
    value.recipients[2].device_id = 'nope';
    expect(badRequest(() => fallback(value))).to.deep.equal(badRequest(() => validate(value)));
    // The setting is restored: later schemas are compiled again.
    expect(compileSchema(Type.String()).accelerated).to.equal(true);
  });
});

describe('protocol/validation schema builders', () => {
  it('Uuid accepts canonical lowercase UUIDs of any version and the self device id', () => {
    const check = compileSchema(Uuid());
    for (const value of [SELF_DEVICE_ID, crypto.randomUUID(), '01890a5d-ac96-774b-bcce-b302099a8057', 'ffffffff-ffff-ffff-ffff-ffffffffffff']) {
      expect(check.check(value), value).to.equal(true);
    }
    for (const value of ['', SELF_DEVICE_ID.toUpperCase().replace(/0/g, 'A'), '0000000-00000-0000-0000-000000000000', `${SELF_DEVICE_ID}0`, 'g0000000-0000-0000-0000-000000000000']) {
      expect(check.check(value), value).to.equal(false);
    }
  });

  it('Base64(max) accepts exactly the strings decodeBase64 accepts within max bytes', () => {
    for (const max of [0, 1, 2, 3, 4, 5, 31, 32, 33]) {
      const check = compileSchema(Base64(max));
      for (let length = 0; length <= max + 4; length++) {
        const text = encodeBase64(randomBytes(length));
        expect(check.check(text), `max ${max}, ${length} bytes`).to.equal(length <= max);
      }
    }
    const check = compileSchema(Base64(8));
    const candidates = ['', 'QQ==', 'QR==', 'QUI=', 'QUJ=', 'QUJD', 'QUJDRA==', 'QUJDREVGR0g=', 'QUJDREVGR0hJ', 'QQ', 'QQ=', 'Q===', 'QU I=', 'QUJD\n', 'QU-_', 'QUJDREVGRw=='];
    for (const text of candidates) {
      let decodes: boolean;
      try {
        decodeBase64(text, 'f', { maxBytes: 8 });
        decodes = true;
      } catch {
        decodes = false;
      }
      expect(check.check(text), JSON.stringify(text)).to.equal(decodes);
    }
  });

  it('Email accepts sane addresses and refuses the rest', () => {
    const check = compileSchema(Email());
    for (const value of ['a@b.cz', 'first.last+tag@mail.example.org', "o'neil@x-y.example", 'x@xn--p1ai.xn--p1ai']) {
      expect(check.check(value), value).to.equal(true);
    }
    for (const value of ['', 'a', 'a@b', '@b.cz', 'a@.cz', 'a@b..cz', '.a@b.cz', 'a..b@c.cz', 'a b@c.cz', 'a@b.c-', 'a@-b.cz', `${'a'.repeat(65)}@b.cz`, `a@${'b'.repeat(250)}.cz`, 'a@b.cz\n']) {
      expect(check.check(value), value).to.equal(false);
    }
    expect(badRequest(() => compileSchema(Type.Object({ email: Email() }))({ email: 'nope' })).message).to.equal('email must be an email address');
  });

  it('Username allows 1-32 letters, digits and ._-', () => {
    const validate = compileSchema(Type.Object({ username: Username() }));
    for (const value of ['a', 'jan.novak', 'J_N-2', 'x'.repeat(32)]) expect(validate.check({ username: value }), value).to.equal(true);
    expect(badRequest(() => validate({ username: '' })).message).to.equal('username must not be empty');
    expect(badRequest(() => validate({ username: 'x'.repeat(33) })).message).to.equal('username must be at most 32 characters');
    expect(badRequest(() => validate({ username: 'jan novák' })).message).to.equal("username may contain only letters, digits, '.', '_' and '-'");
  });

  it('NonEmptyString and TimestampMs', () => {
    const text = compileSchema(NonEmptyString(3));
    expect([text.check(''), text.check('a'), text.check('abc'), text.check('abcd')]).to.deep.equal([false, true, true, false]);
    const time = compileSchema(TimestampMs());
    expect([time.check(0), time.check(Date.now()), time.check(-1), time.check(1.5), time.check(2 ** 53), time.check('1')]).to.deep.equal([true, true, false, false, false, false]);
  });
});
