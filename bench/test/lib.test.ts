/** Pure helpers of the benchmarks (statistics, options). No timing is measured or asserted here. */
import { expect } from 'chai';
import { flag, numberOption, option } from '../lib/args.js';
import { median, percentile, round, summarize } from '../lib/stats.js';

describe('bench/lib/stats', () => {
  it('takes nearest-rank percentiles of sorted samples', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).to.equal(50);
    expect(percentile(sorted, 99)).to.equal(99);
    expect(percentile(sorted, 100)).to.equal(100);
    expect(percentile(sorted, 0)).to.equal(1);
    expect(percentile([7], 99)).to.equal(7);
    expect(Number.isNaN(percentile([], 50))).to.equal(true);
  });

  it('summarises unsorted samples numerically (not as strings)', () => {
    const summary = summarize([10, 2, 1, 100, 3]);
    expect(summary.count).to.equal(5);
    expect(summary.p50).to.equal(3);
    expect(summary.p99).to.equal(100);
    expect(summary.max).to.equal(100);
    expect(summary.mean).to.equal(23.2);
    expect(Number.isNaN(summarize([]).p50)).to.equal(true);
  });

  it('takes medians and rounds', () => {
    expect(median([3, 1, 2])).to.equal(2);
    expect(median([10, 1])).to.equal(10);
    expect(round(1.23456, 2)).to.equal(1.23);
    expect(round(1.5, 0)).to.equal(2);
  });
});

describe('bench/lib/args', () => {
  const argv = ['node', 'run.ts', 'relay', '--quick', '--pairs=50', '--rate=2000', '--pairs=60', '--dir=/tmp/x'];

  it('reads the last --name=value', () => {
    expect(option('pairs', argv)).to.equal('60');
    expect(option('dir', argv)).to.equal('/tmp/x');
    expect(option('missing', argv)).to.equal(undefined);
  });

  it('reads positive numbers with a fallback and refuses anything else', () => {
    expect(numberOption('rate', 1000, argv)).to.equal(2000);
    expect(numberOption('window', 4, argv)).to.equal(4);
    expect(() => numberOption('rate', 1, ['--rate=fast'])).to.throw(/--rate must be a positive number/);
    expect(() => numberOption('rate', 1, ['--rate=0'])).to.throw(/positive/);
  });

  it('sees flags without values', () => {
    expect(flag('quick', argv)).to.equal(true);
    expect(flag('pairs', argv)).to.equal(false);
  });
});
