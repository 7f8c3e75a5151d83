/** Pure helpers of core-accounts: version comparison and phantom usernames. */
import { expect } from 'chai';
import { ed25519 } from '@noble/curves/ed25519.js';
import { ed25519KeyPair } from '../../../crypto/index.js';
import { compareSemver, isUsableEd25519PublicKey, phantomUsername } from '../accounts.js';

describe('core-accounts helpers', () => {
  describe('compareSemver', () => {
    it('orders by major, minor and patch numerically', () => {
      expect(compareSemver('1.2.3', '1.2.3')).to.equal(0);
      expect(compareSemver('1.2.3', '1.2.4')).to.be.below(0);
      expect(compareSemver('1.10.0', '1.9.9')).to.be.above(0);
      expect(compareSemver('2.0.0', '10.0.0')).to.be.below(0);
      expect(compareSemver('0.1.0', '0.0.99')).to.be.above(0);
    });

    it('puts a pre-release before its release and orders pre-releases by semver rules', () => {
      expect(compareSemver('1.0.0-alpha', '1.0.0')).to.be.below(0);
      expect(compareSemver('1.0.0', '1.0.0-rc.1')).to.be.above(0);
      const ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0'];
      for (let i = 0; i + 1 < ordered.length; i++) expect(compareSemver(ordered[i]!, ordered[i + 1]!), `${ordered[i]} < ${ordered[i + 1]}`).to.be.below(0);
    });

    it('ignores build metadata', () => {
      expect(compareSemver('1.0.0+build.5', '1.0.0+other')).to.equal(0);
    });

    it('refuses strings that are not versions', () => {
      expect(() => compareSemver('1.0', '1.0.0')).to.throw(TypeError);
      expect(() => compareSemver('01.0.0', '1.0.0')).to.throw(TypeError);
    });
  });

  describe('phantomUsername', () => {
    it('uses the local part reduced to the username alphabet', () => {
      expect(phantomUsername('john.doe+news@example.org')).to.equal('john.doenews');
      expect(phantomUsername('a_b-c@example.org')).to.equal('a_b-c');
    });

    it('truncates to 32 characters and falls back to "user"', () => {
      expect(phantomUsername(`${'x'.repeat(40)}@example.org`)).to.equal('x'.repeat(32));
      expect(phantomUsername("'+{}@example.org")).to.equal('user');
    });
  });

  describe('isUsableEd25519PublicKey', () => {
    it('accepts real public keys', () => {
      for (let i = 0; i < 5; i++) expect(isUsableEd25519PublicKey(ed25519KeyPair().publicKey)).to.equal(true);
    });

    it('refuses non-points, small-order and mixed-order points, and wrong lengths', () => {
      expect(isUsableEd25519PublicKey(new Uint8Array(32).fill(0xff))).to.equal(false);
      const smallOrder = new Uint8Array(32); // y = 0: a point of order 4
      expect(isUsableEd25519PublicKey(smallOrder)).to.equal(false);
      const mixed = ed25519.Point.fromBytes(ed25519KeyPair().publicKey).add(ed25519.Point.fromBytes(smallOrder)).toBytes();
      expect(isUsableEd25519PublicKey(mixed)).to.equal(false);
      expect(isUsableEd25519PublicKey(ed25519KeyPair().publicKey.subarray(0, 31))).to.equal(false);
    });
  });
});
