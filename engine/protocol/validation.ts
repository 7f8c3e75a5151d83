/**
 * Request validation with TypeBox 1.x. Browser-safe: where the Content Security Policy forbids
 * `eval` (the renderer), validators run without JIT; everywhere else they are compiled once.
 *
 * Unknown extra fields are allowed (TypeBox's default for Type.Object): an older server or client
 * ignores fields added later, which keeps the protocol forward compatible. Handlers must read
 * only the fields their schema declares.
 */
import { Type, type Static, type TSchema, type TSchemaOptions, type TStringOptions, type TString, type TInteger } from 'typebox';
import { Compile } from 'typebox/compile';
import type { TLocalizedValidationError } from 'typebox/error';
import { Settings } from 'typebox/system';
import { errors } from '../errors.js';
import { base64Length } from './base64.js';

/** The first problem found in a value. `field` is a path such as `recipients[2].device_id` ('' for the value itself). */
export interface FieldError {
  field: string;
  message: string;
}

/**
 * A compiled schema. Call it to validate: it returns the value (typed) or throws
 * `WireError('bad_request', message, { field })` naming the first failing field.
 */
export interface SchemaValidator<T extends TSchema> {
  (value: unknown): Static<T>;
  readonly schema: T;
  /** False where eval is forbidden and TypeBox checks dynamically (slower, same results). */
  readonly accelerated: boolean;
  check(value: unknown): value is Static<T>;
  /** The first problem, or undefined when the value is valid. */
  firstError(value: unknown): FieldError | undefined;
}

/**
 * Schema option read by the messages: `errorMessage` replaces the generic message of a failing
 * node. A string applies to every keyword except `type` (where "must be a string" says it best);
 * an object maps keywords to messages (`{ pattern: 'must be a hex colour' }`).
 */
export type ErrorMessageOption = string | Partial<Record<string, string>>;

/** Compiles a schema once, for validating many values. Throws at once if the schema itself is broken (a bad pattern). */
export function compileSchema<T extends TSchema>(schema: T): SchemaValidator<T> {
  const compiled = compileWithFallback(schema);
  const firstError = (value: unknown): FieldError | undefined => {
    if (compiled.Check(value)) return undefined;
    return describeFirstError(schema, value, compiled.Errors(value));
  };
  const validate = (value: unknown): Static<T> => {
    if (compiled.Check(value)) return value as Static<T>;
    const problem = describeFirstError(schema, value, compiled.Errors(value));
    throw errors.badRequest(problem.field, problem.message);
  };
  return Object.assign(validate, {
    schema,
    accelerated: compiled.IsAccelerated(),
    check: (value: unknown): value is Static<T> => compiled.Check(value),
    firstError,
  });
}

/** The part of TypeBox's Validator we use. */
interface CompiledCheck {
  Check(value: unknown): boolean;
  Errors(value: unknown): TLocalizedValidationError[];
  IsAccelerated(): boolean;
}

function compileWithFallback(schema: TSchema): CompiledCheck {
  try {
    return Compile(schema);
  } catch (jitError) {
    // TypeBox probes for eval support, but a policy may still refuse the generated code (a CSP
    // without 'unsafe-eval', a sandbox). Build the same validator without JIT. If that fails too,
    // the schema itself is broken: report the original error.
    const previous = Settings.Get().useAcceleration;
    Settings.Set({ useAcceleration: false });
    try {
      return Compile(schema);
    } catch {
      throw jitError;
    } finally {
      Settings.Set({ useAcceleration: previous });
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Reusable schema builders
// ------------------------------------------------------------------------------------------------

/** Canonical lowercase UUID, any version (the nil UUID SELF_DEVICE_ID included). */
export const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
export const USERNAME_PATTERN = '^[A-Za-z0-9._-]+$';
export const USERNAME_MAX_LENGTH = 32;
export const EMAIL_MAX_LENGTH = 254;
const EMAIL_ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const DOMAIN_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const TOP_LEVEL_LABEL = '[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
/** A practical address: dot-atom local part of at most 64 characters, a domain with a top-level label. No quoted forms, no IP literals. */
export const EMAIL_PATTERN = `^(?=[^@]{1,64}@)${EMAIL_ATOM}(?:\\.${EMAIL_ATOM})*@(?:${DOMAIN_LABEL}\\.)+${TOP_LEVEL_LABEL}$`;

/** A canonical lowercase UUID string. */
export function Uuid(options: TStringOptions = {}): TString {
  return Type.String({ pattern: UUID_PATTERN, errorMessage: 'must be a lowercase UUID (8-4-4-4-12 hex digits)', ...options });
}

/**
 * Standard padded base64 of at most `maxBytes` decoded bytes, canonical (unused bits zero): the
 * same strings decodeBase64 accepts. Decode it with decodeBase64(value, field, {maxBytes}) in the
 * handler (or {exactBytes} for keys).
 */
export function Base64(maxBytes: number, options: TStringOptions = {}): TString {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`Base64(maxBytes): maxBytes must be a non-negative integer, got ${maxBytes}`);
  return Type.String({
    pattern: base64Pattern(maxBytes),
    maxLength: base64Length(maxBytes),
    errorMessage: `must be base64 (standard alphabet, padded) of at most ${maxBytes} bytes`,
    ...options,
  });
}

/** An email address (practical pattern, at most 254 characters). Compare addresses case-insensitively. */
export function Email(options: TStringOptions = {}): TString {
  return Type.String({
    pattern: EMAIL_PATTERN,
    maxLength: EMAIL_MAX_LENGTH,
    errorMessage: { pattern: 'must be an email address' },
    ...options,
  });
}

/** 1-32 characters: ASCII letters, digits, '.', '_' and '-'. */
export function Username(options: TStringOptions = {}): TString {
  return Type.String({
    pattern: USERNAME_PATTERN,
    minLength: 1,
    maxLength: USERNAME_MAX_LENGTH,
    errorMessage: { pattern: "may contain only letters, digits, '.', '_' and '-'" },
    ...options,
  });
}

/** A string of 1..max characters (Unicode code points). */
export function NonEmptyString(max: number, options: TStringOptions = {}): TString {
  return Type.String({ minLength: 1, maxLength: max, ...options });
}

/** Milliseconds since the epoch: a non-negative safe integer. */
export function TimestampMs(options: TSchemaOptions = {}): TInteger {
  return Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, ...options });
}

/**
 * The exact set of padded, canonical base64 strings of at most maxBytes bytes: full 4-character
 * groups, optionally ending in `xx==` (one byte) or `xxx=` (two bytes), with each ending allowed
 * only after few enough full groups. The last character before padding may carry no unused bits.
 */
function base64Pattern(maxBytes: number): string {
  const char = '[A-Za-z0-9+/]';
  const oneByteEnd = `${char}[AQgw]==`;
  const twoByteEnd = `${char}{2}[AEIMQUYcgkosw048]=`;
  const groups = (count: number): string => `(?:${char}{4}){0,${count}}`;
  const branches = [groups(Math.floor(maxBytes / 3))];
  if (maxBytes >= 1) branches.push(groups(Math.floor((maxBytes - 1) / 3)) + oneByteEnd);
  if (maxBytes >= 2) branches.push(groups(Math.floor((maxBytes - 2) / 3)) + twoByteEnd);
  return `^(?:${branches.join('|')})$`;
}

// ------------------------------------------------------------------------------------------------
// Error description: the first error, with a readable message and a field path
// ------------------------------------------------------------------------------------------------

interface PathStep {
  keyword: string;
  /** Whether this step goes one level down into the value (a property or an item). */
  descends: boolean;
  /** Schema path segments (decoded) that lead to this step's subschema. */
  segments: string[];
}

/** Keywords followed by a name or index segment in a schema path. */
const NAMED_KEYWORDS = new Set(['properties', 'patternProperties', 'prefixItems', 'anyOf', 'oneOf', 'allOf', '$defs', 'definitions', 'dependentSchemas']);
const DESCENDING_KEYWORDS = new Set(['properties', 'patternProperties', 'prefixItems', 'items', 'additionalProperties', 'additionalItems', 'unevaluatedProperties', 'unevaluatedItems', 'contains']);

function decodePointer(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

function pointerSegments(pointer: string): string[] {
  if (pointer === '' || pointer === '#') return [];
  const start = pointer.startsWith('#/') ? 2 : pointer.startsWith('/') ? 1 : 0;
  return pointer.slice(start).split('/').map(decodePointer);
}

function schemaSteps(schemaPath: string): PathStep[] {
  const segments = pointerSegments(schemaPath);
  const steps: PathStep[] = [];
  for (let i = 0; i < segments.length; i++) {
    const keyword = segments[i];
    const start = i;
    if (NAMED_KEYWORDS.has(keyword)) i++;
    else if (keyword === 'items' && /^\d+$/.test(segments[i + 1] ?? '')) i++; // tuple form: items/N
    steps.push({ keyword, descends: DESCENDING_KEYWORDS.has(keyword), segments: segments.slice(start, i + 1) });
  }
  return steps;
}

function resolveSchema(root: TSchema, segments: string[]): Record<string, unknown> | undefined {
  let node: unknown = root;
  for (const segment of segments) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return typeof node === 'object' && node !== null ? (node as Record<string, unknown>) : undefined;
}

function describeFirstError(schema: TSchema, value: unknown, found: TLocalizedValidationError[]): FieldError {
  const error = found[0];
  if (error === undefined) return { field: '', message: 'Value is invalid' };
  const steps = schemaSteps(error.schemaPath);
  const instance = pointerSegments(error.instancePath);

  // An error inside a union variant says little ("must be string" from the first variant):
  // report the outermost union that failed instead.
  const unionAt = steps.findIndex((step) => step.keyword === 'anyOf' || step.keyword === 'oneOf');
  if (unionAt >= 0) {
    const deeper = steps.slice(unionAt + 1).filter((step) => step.descends).length;
    const unionInstance = instance.slice(0, instance.length - deeper);
    const unionNode = resolveSchema(schema, steps.slice(0, unionAt).flatMap((step) => step.segments));
    return withField(formatField(value, unionInstance), describeUnion(unionNode, steps[unionAt].keyword));
  }

  const node = resolveSchema(schema, steps.flatMap((step) => step.segments));
  const custom = customMessage(node, error.keyword);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required': {
      const missing = (params.requiredProperties as string[])[0];
      return withField(formatField(value, [...instance, missing]), 'is required');
    }
    case 'additionalProperties': {
      const extra = (params.additionalProperties as string[])[0];
      return withField(formatField(value, [...instance, extra]), 'is not allowed');
    }
    case 'unevaluatedProperties': {
      const extra = String((params.unevaluatedProperties as PropertyKey[])[0]);
      return withField(formatField(value, [...instance, extra]), 'is not allowed');
    }
    default:
      return withField(formatField(value, instance), custom ?? keywordMessage(error));
  }
}

function customMessage(node: Record<string, unknown> | undefined, keyword: string): string | undefined {
  const option = node?.errorMessage as ErrorMessageOption | undefined;
  if (typeof option === 'string') return keyword === 'type' ? undefined : option;
  if (typeof option === 'object' && option !== null) {
    const message = option[keyword];
    return typeof message === 'string' ? message : undefined;
  }
  return undefined;
}

function withField(field: string, phrase: string): FieldError {
  return { field, message: field === '' ? `Value ${phrase}` : `${field} ${phrase}` };
}

const TYPE_NOUNS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'a boolean',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

function typeNoun(type: unknown): string {
  if (Array.isArray(type)) return type.map(typeNoun).join(' or ');
  return typeof type === 'string' ? (TYPE_NOUNS[type] ?? type) : 'of the right type';
}

function plural(count: unknown, one: string, many: string): string {
  return `${String(count)} ${count === 1 ? one : many}`;
}

function keywordMessage(error: TLocalizedValidationError): string {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'type':
      return `must be ${typeNoun(params.type)}`;
    case 'const':
      return `must be ${JSON.stringify(params.allowedValue)}`;
    case 'enum':
      return `must be one of ${listValues(params.allowedValues as unknown[])}`;
    case 'minLength':
      return params.limit === 1 ? 'must not be empty' : `must be at least ${plural(params.limit, 'character', 'characters')}`;
    case 'maxLength':
      return `must be at most ${plural(params.limit, 'character', 'characters')}`;
    case 'pattern':
      return 'has an invalid format';
    case 'format':
      return `must be a valid ${String(params.format)}`;
    case 'minimum':
      return `must be at least ${String(params.limit)}`;
    case 'maximum':
      return `must be at most ${String(params.limit)}`;
    case 'exclusiveMinimum':
      return `must be greater than ${String(params.limit)}`;
    case 'exclusiveMaximum':
      return `must be less than ${String(params.limit)}`;
    case 'multipleOf':
      return `must be a multiple of ${String(params.multipleOf)}`;
    case 'minItems':
      return params.limit === 1 ? 'must not be empty' : `must have at least ${plural(params.limit, 'item', 'items')}`;
    case 'maxItems':
      return `must have at most ${plural(params.limit, 'item', 'items')}`;
    case 'boolean':
      // The `false` schema: used by additionalProperties: false for each extra property.
      return 'is not allowed';
    case 'uniqueItems':
      return 'must not contain duplicates';
    case 'minProperties':
      return `must have at least ${plural(params.limit, 'property', 'properties')}`;
    case 'maxProperties':
      return `must have at most ${plural(params.limit, 'property', 'properties')}`;
    case '~refine':
      return typeof params.message === 'string' ? params.message : 'is invalid';
    default:
      return error.message;
  }
}

function listValues(values: unknown[]): string {
  const shown = values.slice(0, 10).map((value) => JSON.stringify(value));
  return values.length > 10 ? `${shown.join(', ')}, ...` : shown.join(', ');
}

/** "must be a string or null", "must be one of "a", "b"", or a generic message for complex unions. */
function describeUnion(node: Record<string, unknown> | undefined, keyword: string): string {
  const custom = customMessage(node, keyword);
  if (custom !== undefined) return custom;
  const variants = node?.[keyword];
  if (Array.isArray(variants) && variants.length > 0) {
    const consts: unknown[] = [];
    const nouns: string[] = [];
    let simple = true;
    for (const variant of variants as Array<Record<string, unknown>>) {
      if (typeof variant !== 'object' || variant === null) {
        simple = false;
        break;
      }
      if ('const' in variant) consts.push(variant.const);
      else if (Array.isArray(variant.enum)) consts.push(...(variant.enum as unknown[]));
      else if (typeof variant.type === 'string' && Object.keys(variant).every((key) => key === 'type' || key.startsWith('~'))) nouns.push(typeNoun(variant.type));
      else {
        simple = false;
        break;
      }
    }
    if (simple) {
      const parts = [...nouns];
      if (consts.length > 0) parts.push(consts.length === 1 && nouns.length === 0 ? JSON.stringify(consts[0]) : `one of ${listValues(consts)}`);
      return `must be ${parts.join(' or ')}`;
    }
  }
  return 'does not match any of the allowed forms';
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `recipients[2].device_id`: indexes of arrays in brackets, identifier keys with dots, other keys quoted. */
function formatField(value: unknown, segments: string[]): string {
  let field = '';
  let current: unknown = value;
  for (const segment of segments) {
    if (Array.isArray(current) && /^(?:0|[1-9]\d*)$/.test(segment)) {
      field += `[${segment}]`;
      current = current[Number(segment)];
      continue;
    }
    field += IDENTIFIER.test(segment) ? (field === '' ? segment : `.${segment}`) : `[${JSON.stringify(segment)}]`;
    current = typeof current === 'object' && current !== null ? (current as Record<string, unknown>)[segment] : undefined;
  }
  return field;
}
