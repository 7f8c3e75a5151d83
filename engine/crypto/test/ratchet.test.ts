import { expect } from 'chai';
import { CryptoErrorCode } from '../../errors.js';
import {
  DoubleRatchet,
  HEADER_LENGTH,
  MAX_SKIP,
  MAX_STORED_SKIPPED,
  decodeHeader,
  encodeHeader,
  generateSignedPreKey,
  nobleProvider,
  nodeProvider,
  x3dhInitiate,
  x3dhRespond,
  type CryptoProvider,
  type RatchetMessage,
} from '../index.js';
import { catchCryptoError, expectCryptoError, flipped, hex, shuffled, utf8 } from './helpers.js';

interface Wire {
  header: Uint8Array;
  ciphertext: Uint8Array;
}

function toWire(message: RatchetMessage): Wire {
  return { header: encodeHeader(message.header), ciphertext: message.ciphertext };
}

function receive(session: DoubleRatchet, wire: Wire, ad?: Uint8Array): Uint8Array {
  return session.decrypt(decodeHeader(wire.header), wire.ciphertext, ad);
}

/** A fresh session pair established through X3DH; Alice has sent nothing yet. */
function establish(aliceProvider: CryptoProvider = nodeProvider, bobProvider: CryptoProvider = nodeProvider) {
  const aliceIdentity = aliceProvider.ed25519KeyPair();
  const bobIdentity = bobProvider.ed25519KeyPair();
  const spk = generateSignedPreKey(bobIdentity.privateKey, 1, bobProvider);
  const init = x3dhInitiate(
    {
      identityPrivate: aliceIdentity.privateKey,
      identityPublic: aliceIdentity.publicKey,
      remoteIdentityPublic: bobIdentity.publicKey,
      remoteSignedPreKey: spk,
    },
    aliceProvider,
  );
  const resp = x3dhRespond(
    {
      identityPrivate: bobIdentity.privateKey,
      identityPublic: bobIdentity.publicKey,
      signedPreKeyPrivate: spk.privateKey,
      remoteIdentityPublic: init.header.identityKey,
      remoteEphemeralPublic: init.header.ephemeralKey,
    },
    bobProvider,
  );
  const alice = DoubleRatchet.initAlice(init.sharedSecret, spk.publicKey, init.associatedData, aliceProvider);
  const bob = DoubleRatchet.initBob(resp.sharedSecret, { privateKey: spk.privateKey, publicKey: spk.publicKey }, resp.associatedData, bobProvider);
  return { alice, bob };
}

const text = (label: string, i: number) => utf8(`${label} message ${i} ${'x'.repeat(i % 37)}`);

/** Asserts that decrypting fails with a CryptoError and leaves the session byte-for-byte unchanged. */
function expectRejectedUnchanged(session: DoubleRatchet, attempt: () => unknown, code?: string): string {
  const before = hex(session.exportState());
  const err = catchCryptoError(attempt);
  if (code !== undefined) expect(err.code).to.equal(code);
  expect(hex(session.exportState()), `state changed after ${err.code}`).to.equal(before);
  return err.code;
}

describe('crypto/ratchet: header encoding', () => {
  it('round-trips and validates', () => {
    const header = { dh: nodeProvider.randomBytes(32), pn: 0xfffffffe, n: 12345 };
    const encoded = encodeHeader(header);
    expect(encoded).to.have.length(HEADER_LENGTH);
    const decoded = decodeHeader(encoded);
    expect(hex(decoded.dh)).to.equal(hex(header.dh));
    expect(decoded.pn).to.equal(header.pn);
    expect(decoded.n).to.equal(header.n);
    expectCryptoError(() => decodeHeader(encoded.subarray(0, 40)), CryptoErrorCode.INVALID_MESSAGE);
    expectCryptoError(() => decodeHeader(new Uint8Array(42)), CryptoErrorCode.INVALID_MESSAGE);
    expectCryptoError(() => decodeHeader(flipped(encoded, 0)), CryptoErrorCode.INVALID_MESSAGE);
    expectCryptoError(() => encodeHeader({ dh: new Uint8Array(31), pn: 0, n: 0 }), CryptoErrorCode.INVALID_MESSAGE);
    expectCryptoError(() => encodeHeader({ dh: header.dh, pn: -1, n: 0 }), CryptoErrorCode.INVALID_MESSAGE);
    expectCryptoError(() => encodeHeader({ dh: header.dh, pn: 0, n: 2 ** 32 }), CryptoErrorCode.INVALID_MESSAGE);
  });
});

describe('crypto/ratchet: conversations', () => {
  it('alternates for 300 messages (a DH ratchet step every turn)', () => {
    const { alice, bob } = establish();
    for (let i = 0; i < 300; i++) {
      const [from, to] = i % 2 === 0 ? [alice, bob] : [bob, alice];
      const plaintext = text('alt', i);
      expect(hex(receive(to, toWire(from.encrypt(plaintext))))).to.equal(hex(plaintext));
    }
    expect(alice.skippedKeyCount).to.equal(0);
    expect(bob.skippedKeyCount).to.equal(0);
  });

  it('runs 500 messages in one direction, then replies in bursts', () => {
    const { alice, bob } = establish();
    for (let i = 0; i < 500; i++) expect(hex(receive(bob, toWire(alice.encrypt(text('a', i)))))).to.equal(hex(text('a', i)));
    for (let burst = 0; burst < 10; burst++) {
      const [from, to] = burst % 2 === 0 ? [bob, alice] : [alice, bob];
      for (let i = 0; i < 25; i++) expect(hex(receive(to, toWire(from.encrypt(text('b', i)))))).to.equal(hex(text('b', i)));
    }
  });

  it('headers carry Ns, PN and the current ratchet key', () => {
    const { alice, bob } = establish();
    const a0 = alice.encrypt(utf8('a0'));
    const a1 = alice.encrypt(utf8('a1'));
    expect([a0.header.n, a0.header.pn, a1.header.n]).to.deep.equal([0, 0, 1]);
    expect(hex(a0.header.dh)).to.equal(hex(a1.header.dh));
    receive(bob, toWire(a0));
    receive(bob, toWire(a1));
    const b0 = bob.encrypt(utf8('b0'));
    expect([b0.header.n, b0.header.pn]).to.deep.equal([0, 0]);
    receive(alice, toWire(b0));
    const a2 = alice.encrypt(utf8('a2'));
    expect([a2.header.n, a2.header.pn]).to.deep.equal([0, 2]);
    expect(hex(a2.header.dh)).to.not.equal(hex(a0.header.dh));
  });

  it('binds the caller associated data', () => {
    const { alice, bob } = establish();
    const ad = utf8('conversation 42');
    const wire = toWire(alice.encrypt(utf8('hello'), ad));
    expectRejectedUnchanged(bob, () => receive(bob, wire), CryptoErrorCode.DECRYPT_FAILED);
    expectRejectedUnchanged(bob, () => receive(bob, wire, utf8('conversation 43')), CryptoErrorCode.DECRYPT_FAILED);
    expect(hex(receive(bob, wire, ad))).to.equal(hex(utf8('hello')));
  });

  it('the responder cannot send before it has received (invalid_state)', () => {
    const { alice, bob } = establish();
    expect(bob.canEncrypt).to.equal(false);
    expectCryptoError(() => bob.encrypt(utf8('too early')), CryptoErrorCode.INVALID_STATE);
    receive(bob, toWire(alice.encrypt(utf8('hi'))));
    expect(bob.canEncrypt).to.equal(true);
    expect(hex(receive(alice, toWire(bob.encrypt(utf8('hi back')))))).to.equal(hex(utf8('hi back')));
  });

  it('sessions with different secrets cannot read each other', () => {
    const first = establish();
    const second = establish();
    const wire = toWire(first.alice.encrypt(utf8('private')));
    expectRejectedUnchanged(second.bob, () => receive(second.bob, wire), CryptoErrorCode.DECRYPT_FAILED);
  });

  it('interoperates: Alice on node:crypto, Bob on noble, with ratchet steps', () => {
    const { alice, bob } = establish(nodeProvider, nobleProvider);
    for (let round = 0; round < 8; round++) {
      const [from, to] = round % 2 === 0 ? [alice, bob] : [bob, alice];
      const wires = [0, 1, 2].map((i) => toWire(from.encrypt(text(`r${round}`, i))));
      for (const i of [2, 0, 1]) expect(hex(receive(to, wires[i]!))).to.equal(hex(text(`r${round}`, i)));
    }
    // The states move between providers too.
    const aliceOnNoble = DoubleRatchet.importState(alice.exportState(), nobleProvider);
    const bobOnNode = DoubleRatchet.importState(bob.exportState(), nodeProvider);
    expect(hex(receive(bobOnNode, toWire(aliceOnNoble.encrypt(utf8('swapped')))))).to.equal(hex(utf8('swapped')));
  });
});

describe('crypto/ratchet: loss, reordering and replay', () => {
  it('decrypts out-of-order messages within one chain', () => {
    const { alice, bob } = establish();
    const wires = Array.from({ length: 60 }, (_, i) => toWire(alice.encrypt(text('ooo', i))));
    for (const i of shuffled(wires.map((_, i) => i), 7)) expect(hex(receive(bob, wires[i]!))).to.equal(hex(text('ooo', i)));
    expect(bob.skippedKeyCount).to.equal(0);
  });

  it('decrypts late messages from earlier chains after ratchet steps', () => {
    const { alice, bob } = establish();
    const early = [0, 1, 2, 3].map((i) => toWire(alice.encrypt(text('early', i))));
    receive(bob, early[3]!);
    expect(bob.skippedKeyCount).to.equal(3);
    receive(alice, toWire(bob.encrypt(utf8('reply'))));
    const later = [0, 1].map((i) => toWire(alice.encrypt(text('later', i))));
    receive(bob, later[1]!);
    // The previous chain ended at 4 messages: all its gaps are stored, plus one in the new chain.
    expect(bob.skippedKeyCount).to.equal(4);
    for (const i of [1, 0, 2]) expect(hex(receive(bob, early[i]!))).to.equal(hex(text('early', i)));
    expect(hex(receive(bob, later[0]!))).to.equal(hex(text('later', 0)));
    expect(bob.skippedKeyCount).to.equal(0);
  });

  it('skips messages announced by PN that never arrive (dropped), and goes on', () => {
    const { alice, bob } = establish();
    receive(bob, toWire(alice.encrypt(utf8('a0'))));
    alice.encrypt(utf8('dropped 1'));
    alice.encrypt(utf8('dropped 2'));
    receive(alice, toWire(bob.encrypt(utf8('b0'))));
    alice.encrypt(utf8('dropped 3'));
    expect(hex(receive(bob, toWire(alice.encrypt(utf8('a-new')))))).to.equal(hex(utf8('a-new')));
    expect(bob.skippedKeyCount).to.equal(3);
    for (let i = 0; i < 50; i++) {
      const [from, to] = i % 3 === 0 ? [bob, alice] : [alice, bob];
      const wire = toWire(from.encrypt(text('after', i)));
      if (i % 5 === 4) continue; // lost
      expect(hex(receive(to, wire))).to.equal(hex(text('after', i)));
    }
  });

  it('rejects duplicates in the current chain, from stored keys and from closed chains', () => {
    const { alice, bob } = establish();
    const a = [0, 1, 2].map((i) => toWire(alice.encrypt(text('dup', i))));
    receive(bob, a[0]!);
    receive(bob, a[2]!);
    expectRejectedUnchanged(bob, () => receive(bob, a[0]!), CryptoErrorCode.DUPLICATE_MESSAGE);
    expectRejectedUnchanged(bob, () => receive(bob, a[2]!), CryptoErrorCode.DUPLICATE_MESSAGE);
    receive(bob, a[1]!);
    expectRejectedUnchanged(bob, () => receive(bob, a[1]!), CryptoErrorCode.DUPLICATE_MESSAGE);
    // Move both sides on by several ratchet steps, then replay the old chain.
    for (let i = 0; i < 6; i++) {
      const [from, to] = i % 2 === 0 ? [bob, alice] : [alice, bob];
      receive(to, toWire(from.encrypt(text('step', i))));
    }
    for (const wire of a) expectRejectedUnchanged(bob, () => receive(bob, wire), CryptoErrorCode.DUPLICATE_MESSAGE);
    expect(hex(receive(bob, toWire(alice.encrypt(utf8('still fine')))))).to.equal(hex(utf8('still fine')));
  });

  it('refuses a jump of more than MAX_SKIP without storing anything, accepts exactly MAX_SKIP', () => {
    const { alice, bob } = establish();
    const wires = Array.from({ length: MAX_SKIP + 2 }, (_, i) => toWire(alice.encrypt(text('skip', i))));
    // First message Bob sees is n = MAX_SKIP + 1: one past the bound.
    expectRejectedUnchanged(bob, () => receive(bob, wires[MAX_SKIP + 1]!), CryptoErrorCode.MAX_SKIP_EXCEEDED);
    expect(bob.skippedKeyCount).to.equal(0);
    expect(hex(receive(bob, wires[MAX_SKIP]!))).to.equal(hex(text('skip', MAX_SKIP)));
    expect(bob.skippedKeyCount).to.equal(MAX_SKIP);
    expect(hex(receive(bob, wires[MAX_SKIP + 1]!))).to.equal(hex(text('skip', MAX_SKIP + 1)));
    expect(hex(receive(bob, wires[17]!))).to.equal(hex(text('skip', 17)));
    expect(bob.skippedKeyCount).to.equal(MAX_SKIP - 1);

    // Within the current chain too.
    const more = Array.from({ length: MAX_SKIP + 2 }, (_, i) => toWire(alice.encrypt(text('more', i))));
    const countBefore = bob.skippedKeyCount;
    expectRejectedUnchanged(bob, () => receive(bob, more[MAX_SKIP + 1]!), CryptoErrorCode.MAX_SKIP_EXCEEDED);
    expect(bob.skippedKeyCount).to.equal(countBefore);
    expect(hex(receive(bob, more[0]!))).to.equal(hex(text('more', 0)));
  });

  it('refuses a PN that would skip more than MAX_SKIP in the closing chain', () => {
    const { alice, bob } = establish();
    receive(bob, toWire(alice.encrypt(utf8('first'))));
    receive(alice, toWire(bob.encrypt(utf8('reply'))));
    // Bob's next step will see PN = 2 + MAX_SKIP from Alice (only a0 of that chain delivered).
    const first = toWire(alice.encrypt(utf8('a-chain2-0')));
    for (let i = 0; i < MAX_SKIP + 1; i++) alice.encrypt(utf8('lost'));
    receive(bob, first);
    receive(alice, toWire(bob.encrypt(utf8('turn'))));
    const next = toWire(alice.encrypt(utf8('new chain')));
    expect(decodeHeader(next.header).pn).to.equal(MAX_SKIP + 2);
    expectRejectedUnchanged(bob, () => receive(bob, next), CryptoErrorCode.MAX_SKIP_EXCEEDED);
  });

  it('caps stored skipped keys across chains at MAX_STORED_SKIPPED, evicting the oldest', () => {
    const { alice, bob } = establish();
    const chain1 = Array.from({ length: 1500 }, (_, i) => toWire(alice.encrypt(text('c1', i))));
    receive(bob, chain1[1499]!);
    expect(bob.skippedKeyCount).to.equal(1499);
    receive(alice, toWire(bob.encrypt(utf8('turn'))));
    const chain2 = Array.from({ length: 1000 }, (_, i) => toWire(alice.encrypt(text('c2', i))));
    receive(bob, chain2[999]!);
    expect(bob.skippedKeyCount).to.equal(MAX_STORED_SKIPPED);
    // 1499 + 999 - 2000 = 498 evicted: chain 1's messages 0..497. Their keys are gone.
    expectRejectedUnchanged(bob, () => receive(bob, chain1[0]!), CryptoErrorCode.DUPLICATE_MESSAGE);
    expectRejectedUnchanged(bob, () => receive(bob, chain1[497]!), CryptoErrorCode.DUPLICATE_MESSAGE);
    expect(hex(receive(bob, chain1[498]!))).to.equal(hex(text('c1', 498)));
    expect(hex(receive(bob, chain2[0]!))).to.equal(hex(text('c2', 0)));
    expect(bob.skippedKeyCount).to.equal(MAX_STORED_SKIPPED - 2);
  });
});

describe('crypto/ratchet: tampering leaves the state unchanged', () => {
  function scenario() {
    const { alice, bob } = establish();
    for (let i = 0; i < 3; i++) receive(bob, toWire(alice.encrypt(text('setup', i))));
    receive(alice, toWire(bob.encrypt(utf8('reply'))));
    return { alice, bob };
  }

  function tamperEverywhere(session: DoubleRatchet, wire: Wire, next: () => void, masks: number[]) {
    const codes = new Set<string>();
    for (const mask of masks) {
      for (let i = 0; i < wire.header.length; i++) {
        const header = flipped(wire.header, i, mask);
        codes.add(expectRejectedUnchanged(session, () => session.decrypt(decodeHeader(header), wire.ciphertext)));
      }
      for (let i = 0; i < wire.ciphertext.length; i++) {
        const ciphertext = flipped(wire.ciphertext, i, mask);
        codes.add(expectRejectedUnchanged(session, () => receive(session, { header: wire.header, ciphertext })));
      }
    }
    const before = hex(session.exportState());
    expectRejectedUnchanged(session, () => receive(session, { header: wire.header, ciphertext: wire.ciphertext.subarray(1) }));
    expectRejectedUnchanged(session, () => receive(session, { header: wire.header, ciphertext: new Uint8Array(0) }));
    expect(hex(session.exportState())).to.equal(before);
    next();
    return codes;
  }

  it('at every byte of the header and the ciphertext of a message in the current chain', () => {
    const { alice, bob } = scenario();
    const plaintext = utf8('x'.repeat(100));
    const wire = toWire(alice.encrypt(plaintext));
    const codes = tamperEverywhere(bob, wire, () => expect(hex(receive(bob, wire))).to.equal(hex(plaintext)), [0x01, 0x80]);
    expect([...codes].sort()).to.include.members([CryptoErrorCode.DECRYPT_FAILED, CryptoErrorCode.INVALID_MESSAGE]);
    expect(hex(receive(alice, toWire(bob.encrypt(utf8('next')))))).to.equal(hex(utf8('next')));
  });

  it('at every byte of a message that starts a new ratchet step', () => {
    const { alice, bob } = scenario();
    const plaintext = utf8('y'.repeat(100));
    const wire = toWire(bob.encrypt(plaintext));
    tamperEverywhere(alice, wire, () => expect(hex(receive(alice, wire))).to.equal(hex(plaintext)), [0x01, 0x40]);
    expect(hex(receive(bob, toWire(alice.encrypt(utf8('next')))))).to.equal(hex(utf8('next')));
  });

  it('at every byte of a message decrypted from a stored skipped key', () => {
    const { alice, bob } = scenario();
    const wires = [0, 1].map((i) => toWire(alice.encrypt(text('late', i))));
    receive(bob, wires[1]!);
    tamperEverywhere(bob, wires[0]!, () => expect(hex(receive(bob, wires[0]!))).to.equal(hex(text('late', 0))), [0x01]);
  });

  it('on the noble provider too (sampled positions)', () => {
    const { alice, bob } = establish(nobleProvider, nobleProvider);
    receive(bob, toWire(alice.encrypt(utf8('hi'))));
    const wire = toWire(bob.encrypt(utf8('z'.repeat(40))));
    for (const i of [1, 20, 32, 36, 40]) {
      const header = flipped(wire.header, i);
      expectRejectedUnchanged(alice, () => alice.decrypt(decodeHeader(header), wire.ciphertext));
    }
    for (const i of [0, 20, 40, 55]) {
      expectRejectedUnchanged(alice, () => receive(alice, { header: wire.header, ciphertext: flipped(wire.ciphertext, i) }));
    }
    expect(hex(receive(alice, wire))).to.equal(hex(utf8('z'.repeat(40))));
  });

  it('a low-order ratchet key in a forged header is refused with the state unchanged', () => {
    const { alice, bob } = scenario();
    const wire = toWire(alice.encrypt(utf8('m')));
    const forged = { dh: new Uint8Array(32), pn: 0, n: 0 };
    expectRejectedUnchanged(bob, () => bob.decrypt(forged, wire.ciphertext), CryptoErrorCode.INVALID_KEY);
    expect(hex(receive(bob, wire))).to.equal(hex(utf8('m')));
  });
});

describe('crypto/ratchet: export and import', () => {
  it('continues a conversation after both sides are exported and imported mid-way', () => {
    let { alice, bob } = establish();
    const pending: Wire[] = [];
    for (let i = 0; i < 40; i++) {
      const [from, to] = i % 3 === 0 ? [bob, alice] : [alice, bob];
      if (i === 0) {
        receive(bob, toWire(alice.encrypt(utf8('start'))));
        continue;
      }
      const wire = toWire(from.encrypt(text('mid', i)));
      if (i % 7 === 0 && from === alice) pending.push(wire);
      else receive(to, wire);
      if (i % 10 === 5) {
        const aliceState = alice.exportState();
        const bobState = bob.exportState();
        alice = DoubleRatchet.importState(aliceState);
        bob = DoubleRatchet.importState(bobState);
        expect(hex(alice.exportState())).to.equal(hex(aliceState));
        expect(hex(bob.exportState())).to.equal(hex(bobState));
      }
    }
    expect(bob.skippedKeyCount).to.be.greaterThan(0);
    for (const wire of pending) expect(() => receive(bob, wire)).to.not.throw();
    expect(bob.skippedKeyCount).to.equal(0);
    expect(hex(receive(alice, toWire(bob.encrypt(utf8('end')))))).to.equal(hex(utf8('end')));
  });

  it('exports a responder that has not received yet, and restores it', () => {
    const { alice, bob } = establish();
    const restored = DoubleRatchet.importState(bob.exportState());
    expect(restored.canEncrypt).to.equal(false);
    expect(hex(receive(restored, toWire(alice.encrypt(utf8('hello')))))).to.equal(hex(utf8('hello')));
  });

  it('refuses malformed state bytes with invalid_state', () => {
    const { alice, bob } = establish();
    receive(bob, toWire(alice.encrypt(utf8('a'))));
    alice.encrypt(utf8('lost'));
    receive(bob, toWire(alice.encrypt(utf8('b'))));
    const state = bob.exportState();
    expectCryptoError(() => DoubleRatchet.importState(state.subarray(0, state.length - 1)), CryptoErrorCode.INVALID_STATE);
    const longer = new Uint8Array(state.length + 1);
    longer.set(state);
    expectCryptoError(() => DoubleRatchet.importState(longer), CryptoErrorCode.INVALID_STATE);
    expectCryptoError(() => DoubleRatchet.importState(flipped(state, 0)), CryptoErrorCode.INVALID_STATE);
    expectCryptoError(() => DoubleRatchet.importState(flipped(state, 1, 0x08)), CryptoErrorCode.INVALID_STATE);
    expectCryptoError(() => DoubleRatchet.importState(new Uint8Array(0)), CryptoErrorCode.INVALID_STATE);
    for (let cut = 0; cut < state.length; cut += 7) {
      expectCryptoError(() => DoubleRatchet.importState(state.subarray(0, cut)), CryptoErrorCode.INVALID_STATE);
    }
  });

  it('refuses bad construction arguments with invalid_key', () => {
    const pair = nodeProvider.x25519KeyPair();
    expectCryptoError(() => DoubleRatchet.initAlice(new Uint8Array(31), pair.publicKey, new Uint8Array(64)), CryptoErrorCode.INVALID_KEY);
    expectCryptoError(() => DoubleRatchet.initAlice(new Uint8Array(32), new Uint8Array(33), new Uint8Array(64)), CryptoErrorCode.INVALID_KEY);
    expectCryptoError(() => DoubleRatchet.initBob(new Uint8Array(32), { privateKey: new Uint8Array(3), publicKey: pair.publicKey }, new Uint8Array(64)), CryptoErrorCode.INVALID_KEY);
    expectCryptoError(() => DoubleRatchet.initBob(new Uint8Array(32), pair, new Uint8Array(70000)), CryptoErrorCode.INVALID_KEY);
  });
});
