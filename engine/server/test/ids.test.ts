/** UUIDv7: the layout of RFC 9562, and strictly increasing ids within a process. */
import { expect } from 'chai';
import { uuidv7, uuidv7Generator, uuidv7Time } from '../ids.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidv7', () => {
  it('has the version 7 layout with the millisecond timestamp in front', () => {
    const now = Date.now();
    const id = uuidv7Generator()(now);
    expect(id).to.match(V7);
    expect(uuidv7Time(id)).to.equal(now);
    const later = now + 123_456;
    expect(uuidv7Time(uuidv7Generator()(later))).to.equal(later);
    expect(uuidv7()).to.match(V7);
  });

  it('is strictly increasing, also for many ids within one millisecond and when the clock steps back', () => {
    const next = uuidv7Generator();
    const fixed = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 100_000; i++) ids.push(next(fixed));
    ids.push(next(fixed - 5_000)); // the wall clock went back
    ids.push(next(fixed + 1));
    for (let i = 1; i < ids.length; i++) {
      if (!(ids[i]! > ids[i - 1]!)) expect.fail(`id ${i} (${ids[i]}) is not greater than ${ids[i - 1]}`);
      if (!V7.test(ids[i]!)) expect.fail(`id ${i} (${ids[i]}) is not a UUIDv7`);
    }
    expect(new Set(ids).size).to.equal(ids.length);
    expect(uuidv7Time(ids[100_000]!), 'a step back keeps the newest time').to.equal(fixed);
  });

  it('uses fresh random bits', () => {
    const a = uuidv7();
    const b = uuidv7();
    expect(a.slice(-8)).to.not.equal(b.slice(-8));
  });
});
