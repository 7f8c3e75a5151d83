import { expect } from 'chai';
import { CryptoError, type CryptoErrorCode } from '../../errors.js';
import { bytesToHex, hexToBytes } from '../bytes.js';
import type { CryptoProvider } from '../provider.js';
import { nodeProvider } from '../provider-node.js';
import { nobleProvider } from '../provider-noble.js';
import { sodiumProvider, sodiumUnavailableReason } from '../provider-sodium.js';

/**
 * The libsodium provider. sodium-native is a dependency installed by `npm ci` with prebuilt
 * binaries, so its absence is a failure here, not a skip.
 */
export function requireSodium(): CryptoProvider {
  if (sodiumProvider === undefined) throw new Error(sodiumUnavailableReason);
  return sodiumProvider;
}

export const providers: readonly CryptoProvider[] = [nodeProvider, nobleProvider, requireSodium()];

export const hex = bytesToHex;
export const unhex = hexToBytes;

export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Asserts that `fn` throws a CryptoError with `code` and returns it. */
export function expectCryptoError(fn: () => unknown, code: CryptoErrorCode): CryptoError {
  try {
    fn();
  } catch (err) {
    expect(err, `expected CryptoError ${code}`).to.be.instanceOf(CryptoError);
    expect((err as CryptoError).code).to.equal(code);
    return err as CryptoError;
  }
  expect.fail(`expected CryptoError ${code}, nothing was thrown`);
}

export async function expectCryptoErrorAsync(fn: () => Promise<unknown>, code: CryptoErrorCode): Promise<CryptoError> {
  try {
    await fn();
  } catch (err) {
    expect(err, `expected CryptoError ${code}`).to.be.instanceOf(CryptoError);
    expect((err as CryptoError).code).to.equal(code);
    return err as CryptoError;
  }
  expect.fail(`expected CryptoError ${code}, nothing was thrown`);
}

/** Returns the CryptoError `fn` throws (any code); fails on anything else. */
export function catchCryptoError(fn: () => unknown): CryptoError {
  try {
    fn();
  } catch (err) {
    expect(err, 'expected a CryptoError').to.be.instanceOf(CryptoError);
    return err as CryptoError;
  }
  expect.fail('expected a CryptoError, nothing was thrown');
}

export function flipped(bytes: Uint8Array, index: number, mask = 0x01): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[index] = out[index]! ^ mask;
  return out;
}

/** Deterministic shuffle (so a failing order can be reproduced). */
export function shuffled<T>(items: readonly T[], seed = 1): T[] {
  const out = [...items];
  let state = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
