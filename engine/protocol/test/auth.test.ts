/** The signed byte strings of login and login-key rotation. */
import { expect } from 'chai';
import { loginChallengeMessage, normalizeEmail, rotateLoginKeyMessage } from '../auth.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('protocol/auth signed messages', () => {
  it('builds the login message: domain tag, challenge, normalised email', () => {
    const challenge = new Uint8Array(32).map((_, i) => i);
    const message = loginChallengeMessage(challenge, '  Alice@Example.ORG ');
    const expected = Buffer.concat([Buffer.from('KecalekLogin\x00v1\x00', 'utf8'), Buffer.from(challenge), Buffer.from('alice@example.org', 'utf8')]);
    expect(hex(message)).to.equal(expected.toString('hex'));
    expect(message.length).to.equal(16 + 32 + 17);
  });

  it('builds the rotation message: domain tag, new login key, user id', () => {
    const key = new Uint8Array(32).fill(7);
    const userId = '0c8a4b8e-3f0e-4c55-9a51-4f3f8f1f6a2d';
    const message = rotateLoginKeyMessage(key, userId);
    const expected = Buffer.concat([Buffer.from('KecalekRotateLoginKey\x00v1\x00', 'utf8'), Buffer.from(key), Buffer.from(userId, 'utf8')]);
    expect(hex(message)).to.equal(expected.toString('hex'));
  });

  it('keeps the two purposes apart', () => {
    const bytes = new Uint8Array(32).fill(1);
    expect(hex(loginChallengeMessage(bytes, 'a@b.cz'))).not.to.equal(hex(rotateLoginKeyMessage(bytes, 'a@b.cz')));
  });

  it('normalises emails by trimming and lowercasing', () => {
    expect(normalizeEmail(' Bob@Example.Org\t')).to.equal('bob@example.org');
  });
});
