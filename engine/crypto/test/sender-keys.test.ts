import { expect } from 'chai';
import { CryptoErrorCode } from '../../errors.js';
import {
  MAX_SENDER_KEY_JUMP,
  MAX_SENDER_KEY_SKIPPED,
  SenderKeyState,
  concatBytes,
  nobleProvider,
  nodeProvider,
  peekSenderKeyChainId,
  utf8Encode,
} from '../index.js';
import { catchCryptoError, expectCryptoError, flipped, hex, shuffled, utf8 } from './helpers.js';

const text = (i: number) => utf8(`group message ${i} ${'g'.repeat(i % 50)}`);

function expectRejectedUnchanged(state: SenderKeyState, attempt: () => unknown, code?: string): string {
  const before = hex(state.exportState());
  const err = catchCryptoError(attempt);
  if (code !== undefined) expect(err.code).to.equal(code);
  expect(hex(state.exportState()), `state changed after ${err.code}`).to.equal(before);
  return err.code;
}

/** Sender-key state bytes in exportState()'s layout, for building states the API would never make. */
function rawState(chainId: Uint8Array, iteration: number, chainKey: Uint8Array, signingPublic: Uint8Array, signingSeed: Uint8Array | null): Uint8Array {
  const iterationBytes = Uint8Array.of(iteration >>> 24, (iteration >>> 16) & 0xff, (iteration >>> 8) & 0xff, iteration & 0xff);
  const seed = signingSeed ?? new Uint8Array(0);
  return concatBytes(Uint8Array.of(1, signingSeed ? 1 : 0), chainId, iterationBytes, chainKey, signingPublic, seed, Uint8Array.of(0, 0));
}

/** A state with another chain's id, iteration and chain key, signing with its own key (a malicious member). */
function impostorOf(distribution: Uint8Array): SenderKeyState {
  const attacker = nodeProvider.ed25519KeyPair();
  const iteration = ((distribution[17]! << 24) | (distribution[18]! << 16) | (distribution[19]! << 8) | distribution[20]!) >>> 0;
  return SenderKeyState.importState(
    rawState(distribution.subarray(1, 17), iteration, distribution.subarray(21, 53), attacker.publicKey, attacker.privateKey),
  );
}

describe('crypto/sender-keys', () => {
  it('round-trips 200 messages to several receivers', () => {
    const sender = SenderKeyState.create();
    const receivers = [0, 1, 2].map(() => SenderKeyState.fromDistribution(sender.distribution()));
    for (let i = 0; i < 200; i++) {
      const message = sender.encrypt(text(i));
      for (const receiver of receivers) expect(hex(receiver.decrypt(message))).to.equal(hex(text(i)));
    }
    expect(sender.iteration).to.equal(200);
    expect(receivers[0]!.iteration).to.equal(200);
  });

  it('creates chains with random 16-byte ids, iteration 0, and exposes the chain id of a message', () => {
    const a = SenderKeyState.create();
    const b = SenderKeyState.create();
    expect(a.chainId).to.have.length(16);
    expect(hex(a.chainId)).to.not.equal(hex(b.chainId));
    expect(a.iteration).to.equal(0);
    expect(a.canEncrypt).to.equal(true);
    const message = a.encrypt(utf8('x'));
    expect(hex(peekSenderKeyChainId(message))).to.equal(hex(a.chainId));
    expectCryptoError(() => peekSenderKeyChainId(message.subarray(0, 20)), CryptoErrorCode.INVALID_MESSAGE);
    expectCryptoError(() => peekSenderKeyChainId(flipped(message, 0)), CryptoErrorCode.INVALID_MESSAGE);
  });

  it('a receiver that joins mid-chain reads from the current iteration on', () => {
    const sender = SenderKeyState.create();
    const early = SenderKeyState.fromDistribution(sender.distribution());
    const old = [0, 1, 2, 3, 4].map((i) => sender.encrypt(text(i)));
    const late = SenderKeyState.fromDistribution(sender.distribution());
    expect(late.iteration).to.equal(5);
    const message = sender.encrypt(text(5));
    expect(hex(late.decrypt(message))).to.equal(hex(text(5)));
    expectRejectedUnchanged(late, () => late.decrypt(old[0]!), CryptoErrorCode.DUPLICATE_MESSAGE);
    for (const [i, m] of old.entries()) expect(hex(early.decrypt(m))).to.equal(hex(text(i)));
  });

  it('decrypts out-of-order messages and rejects duplicates', () => {
    const sender = SenderKeyState.create();
    const receiver = SenderKeyState.fromDistribution(sender.distribution());
    const messages = Array.from({ length: 80 }, (_, i) => sender.encrypt(text(i)));
    for (const i of shuffled(messages.map((_, i) => i), 3)) expect(hex(receiver.decrypt(messages[i]!))).to.equal(hex(text(i)));
    expect(receiver.skippedKeyCount).to.equal(0);
    for (const i of [0, 40, 79]) expectRejectedUnchanged(receiver, () => receiver.decrypt(messages[i]!), CryptoErrorCode.DUPLICATE_MESSAGE);
  });

  it('bounds the forward jump: MAX_SENDER_KEY_JUMP is accepted, one more is refused without storing', () => {
    const sender = SenderKeyState.create();
    const receiver = SenderKeyState.fromDistribution(sender.distribution());
    const messages = Array.from({ length: MAX_SENDER_KEY_JUMP + 2 }, (_, i) => sender.encrypt(text(i)));
    expectRejectedUnchanged(receiver, () => receiver.decrypt(messages[MAX_SENDER_KEY_JUMP + 1]!), CryptoErrorCode.MAX_SKIP_EXCEEDED);
    expect(receiver.skippedKeyCount).to.equal(0);
    expect(hex(receiver.decrypt(messages[MAX_SENDER_KEY_JUMP]!))).to.equal(hex(text(MAX_SENDER_KEY_JUMP)));
    expect(receiver.skippedKeyCount).to.equal(MAX_SENDER_KEY_JUMP);
    expect(hex(receiver.decrypt(messages[MAX_SENDER_KEY_JUMP + 1]!))).to.equal(hex(text(MAX_SENDER_KEY_JUMP + 1)));
    expect(hex(receiver.decrypt(messages[0]!))).to.equal(hex(text(0)));
  });

  it('keeps at most MAX_SENDER_KEY_SKIPPED skipped keys, evicting the oldest', () => {
    const sender = SenderKeyState.create();
    const receiver = SenderKeyState.fromDistribution(sender.distribution());
    const messages = Array.from({ length: 3002 }, (_, i) => sender.encrypt(text(i)));
    receiver.decrypt(messages[1500]!);
    receiver.decrypt(messages[3001]!);
    expect(receiver.skippedKeyCount).to.equal(MAX_SENDER_KEY_SKIPPED);
    // 1500 + 1500 = 3000 skipped, 1000 evicted: iterations 0..999.
    expectRejectedUnchanged(receiver, () => receiver.decrypt(messages[999]!), CryptoErrorCode.DUPLICATE_MESSAGE);
    expect(hex(receiver.decrypt(messages[1000]!))).to.equal(hex(text(1000)));
    expect(hex(receiver.decrypt(messages[3000]!))).to.equal(hex(text(3000)));
  });

  it('refuses a message signed by another key, even with the right chain key (bad_signature)', () => {
    const sender = SenderKeyState.create();
    const receiver = SenderKeyState.fromDistribution(sender.distribution());
    const impostor = impostorOf(sender.distribution());
    const forged = impostor.encrypt(utf8('I am the sender'));
    expect(hex(peekSenderKeyChainId(forged))).to.equal(hex(sender.chainId));
    expectRejectedUnchanged(receiver, () => receiver.decrypt(forged), CryptoErrorCode.BAD_SIGNATURE);
    // A genuine message still decrypts afterwards.
    expect(hex(receiver.decrypt(sender.encrypt(utf8('genuine'))))).to.equal(hex(utf8('genuine')));
  });

  it('tampering at every byte gives a typed error, the state is unchanged, and the genuine message decrypts', () => {
    const sender = SenderKeyState.create();
    const receiver = SenderKeyState.fromDistribution(sender.distribution());
    receiver.decrypt(sender.encrypt(utf8('warm-up')));
    const message = sender.encrypt(utf8('x'.repeat(100)));
    const codes: string[] = [];
    for (let i = 0; i < message.length; i++) {
      codes[i] = expectRejectedUnchanged(receiver, () => receiver.decrypt(flipped(message, i)));
    }
    expect(codes[0]).to.equal(CryptoErrorCode.INVALID_MESSAGE);
    for (let i = 1; i <= 16; i++) expect(codes[i]).to.equal(CryptoErrorCode.UNKNOWN_CHAIN);
    for (let i = 17; i < message.length; i++) expect(codes[i], `byte ${i}`).to.equal(CryptoErrorCode.BAD_SIGNATURE);
    expectRejectedUnchanged(receiver, () => receiver.decrypt(message.subarray(0, message.length - 1)), CryptoErrorCode.BAD_SIGNATURE);
    expectRejectedUnchanged(receiver, () => receiver.decrypt(message.subarray(0, 100)), CryptoErrorCode.INVALID_MESSAGE);
    expectRejectedUnchanged(receiver, () => receiver.decrypt(concatBytes(message, Uint8Array.of(0))), CryptoErrorCode.BAD_SIGNATURE);
    expect(hex(receiver.decrypt(message))).to.equal(hex(utf8('x'.repeat(100))));
  });

  it('signs a domain-separated encoding of everything before the signature', () => {
    const sender = SenderKeyState.create();
    const message = sender.encrypt(utf8('payload'));
    const body = message.subarray(0, message.length - 64);
    const signature = message.subarray(message.length - 64);
    expect(body[0]).to.equal(1);
    expect(hex(body.subarray(1, 17))).to.equal(hex(sender.chainId));
    expect(hex(body.subarray(17, 21))).to.equal('00000000');
    expect(nodeProvider.ed25519Verify(sender.signingPublicKey, concatBytes(utf8Encode('KecalekSenderKeyMessage\x00'), body), signature)).to.equal(true);
    expect(nodeProvider.ed25519Verify(sender.signingPublicKey, body, signature)).to.equal(false);
  });

  it('a state for another chain refuses the message with unknown_chain', () => {
    const a = SenderKeyState.create();
    const b = SenderKeyState.create();
    const receiverOfB = SenderKeyState.fromDistribution(b.distribution());
    expectRejectedUnchanged(receiverOfB, () => receiverOfB.decrypt(a.encrypt(utf8('for a'))), CryptoErrorCode.UNKNOWN_CHAIN);
  });

  it('a receiver cannot encrypt (invalid_state)', () => {
    const receiver = SenderKeyState.fromDistribution(SenderKeyState.create().distribution());
    expect(receiver.canEncrypt).to.equal(false);
    expectRejectedUnchanged(receiver, () => receiver.encrypt(utf8('nope')), CryptoErrorCode.INVALID_STATE);
  });

  it('a failed AEAD after a forward jump rolls back byte for byte', () => {
    // Only a holder of the signing key gets past the signature check, so build a receiver that
    // trusts the attacker's signing key but holds the real chain key, and let the attacker send a
    // signed message under a different chain key: the receiver walks 10 steps on temporaries and
    // then fails at the AEAD.
    const attacker = nodeProvider.ed25519KeyPair();
    const real = SenderKeyState.create().distribution();
    const chainId = real.subarray(1, 17);
    const trusting = SenderKeyState.importState(rawState(chainId, 0, real.subarray(21, 53), attacker.publicKey, null));
    const forger = SenderKeyState.importState(rawState(chainId, 0, nodeProvider.randomBytes(32), attacker.publicKey, attacker.privateKey));
    for (let i = 0; i < 10; i++) forger.encrypt(utf8('skip'));
    expectRejectedUnchanged(trusting, () => trusting.decrypt(forger.encrypt(utf8('forged'))), CryptoErrorCode.DECRYPT_FAILED);
    expect(trusting.skippedKeyCount).to.equal(0);
    expect(trusting.iteration).to.equal(0);
  });

  it('exports and imports sender and receiver states mid-chain', () => {
    let sender = SenderKeyState.create();
    let receiver = SenderKeyState.fromDistribution(sender.distribution());
    const held = [0, 1, 2].map((i) => sender.encrypt(text(i)));
    receiver.decrypt(sender.encrypt(text(3)));
    const senderState = sender.exportState();
    const receiverState = receiver.exportState();
    sender = SenderKeyState.importState(senderState);
    receiver = SenderKeyState.importState(receiverState);
    expect(hex(sender.exportState())).to.equal(hex(senderState));
    expect(hex(receiver.exportState())).to.equal(hex(receiverState));
    expect(receiver.skippedKeyCount).to.equal(3);
    expect(sender.canEncrypt).to.equal(true);
    expect(receiver.canEncrypt).to.equal(false);
    for (const [i, m] of held.entries()) expect(hex(receiver.decrypt(m))).to.equal(hex(text(i)));
    expect(hex(receiver.decrypt(sender.encrypt(text(4))))).to.equal(hex(text(4)));
    expectCryptoError(() => SenderKeyState.importState(senderState.subarray(0, senderState.length - 1)), CryptoErrorCode.INVALID_STATE);
    expectCryptoError(() => SenderKeyState.importState(flipped(senderState, 0)), CryptoErrorCode.INVALID_STATE);
    expectCryptoError(() => SenderKeyState.importState(flipped(senderState, 1, 0x02)), CryptoErrorCode.INVALID_STATE);
    expectCryptoError(() => SenderKeyState.importState(concatBytes(receiverState, Uint8Array.of(0))), CryptoErrorCode.INVALID_STATE);
  });

  it('refuses malformed distributions with invalid_message', () => {
    const distribution = SenderKeyState.create().distribution();
    expect(distribution).to.have.length(85);
    expectCryptoError(() => SenderKeyState.fromDistribution(distribution.subarray(1)), CryptoErrorCode.INVALID_MESSAGE);
    expectCryptoError(() => SenderKeyState.fromDistribution(flipped(distribution, 0)), CryptoErrorCode.INVALID_MESSAGE);
  });

  for (const [from, to] of [
    [nodeProvider, nobleProvider],
    [nobleProvider, nodeProvider],
  ] as const) {
    it(`interoperates: ${from.name} sends, ${to.name} receives`, () => {
      const sender = SenderKeyState.create(from);
      const receiver = SenderKeyState.fromDistribution(sender.distribution(), to);
      const messages = Array.from({ length: 12 }, (_, i) => sender.encrypt(text(i)));
      for (const i of shuffled(messages.map((_, i) => i), 11)) expect(hex(receiver.decrypt(messages[i]!))).to.equal(hex(text(i)));
      expectRejectedUnchanged(receiver, () => receiver.decrypt(impostorOf(sender.distribution()).encrypt(utf8('f'))), CryptoErrorCode.BAD_SIGNATURE);
    });
  }
});
