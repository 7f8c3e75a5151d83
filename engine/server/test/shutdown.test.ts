import { expect } from 'chai';
import tls from 'node:tls';
import { startTestServer } from '../../testing/index.js';
import { createTransportTestPlugin, sleep } from './transport-fixtures.js';

const NETWORK_HANDLES = ['TCPServerWrap', 'TCPSocketWrap', 'TLSWrap', 'PipeWrap'];

function countResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const name of process.getActiveResourcesInfo()) counts.set(name, (counts.get(name) ?? 0) + 1);
  return counts;
}

describe('server graceful shutdown', () => {
  it('answers in-flight requests, refuses new work, closes connections and the database, and leaves no handles', async function () {
    this.timeout(20_000);
    // After one turn, so that mocha's own timeout timer for this test is in the baseline.
    await new Promise((resolve) => setImmediate(resolve));
    const baseline = countResources();
    const server = await startTestServer({ plugins: [createTransportTestPlugin()] });
    try {
      const busy = await server.connect();
      const idle = await server.connect({ transport: 'ws' });
      const inFlight = busy.request('tt_slow', { ms: 400 });
      await sleep(50);

      const closing = server.server.close();

      // New requests on open connections are refused while in-flight ones finish...
      const refused = await idle.request('tt_ping');
      expect(refused.status).to.equal('error');
      expect(refused.status === 'error' && refused.data.code).to.equal('shutting_down');
      // ...and new connections find nobody listening.
      const attempt = await new Promise<string>((resolve) => {
        const socket = tls.connect({ host: server.host, port: server.port, ca: server.certificate, servername: 'localhost' }, () => {
          socket.destroy();
          resolve('connected');
        });
        socket.on('error', (error: Error & { code?: string }) => resolve(error.code ?? error.message));
      });
      expect(attempt).to.equal('ECONNREFUSED');

      const answer = await inFlight;
      expect(answer.status).to.equal('ok');
      expect(answer.data).to.deep.equal({ slept: 400 });

      await closing;
      await Promise.all([busy.closed, idle.closed]);
      expect(server.server.registry.size).to.equal(0);
      let databaseError: unknown;
      try {
        await server.server.database.knex.raw('select 1');
      } catch (error) {
        databaseError = error;
      }
      expect(databaseError, 'the database is closed').to.be.instanceOf(Error);
      // close() is idempotent.
      await server.server.close();
    } finally {
      await server.close();
    }
    await sleep(50);
    const after = countResources();
    for (const name of [...NETWORK_HANDLES, 'Timeout']) {
      expect(after.get(name) ?? 0, `${name} handles left behind`).to.be.at.most(baseline.get(name) ?? 0);
    }
  });
});
