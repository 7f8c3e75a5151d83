// Mocha's spec output plus one plain closing line, "N passed, N failed", which CI reads.
'use strict';
const Mocha = require('mocha');

class KecalekReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once('end', () => {
      const { passes = 0, failures = 0 } = runner.stats ?? {};
      process.stdout.write(`${passes} passed, ${failures} failed\n`);
    });
  }
}

module.exports = KecalekReporter;
