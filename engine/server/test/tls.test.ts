import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { generate } from 'selfsigned';
import { StartupError } from '../../errors.js';
import { loadServerConfig, testServerConfig } from '../config.js';
import type { ServerConfig, TlsConfig } from '../config-types.js';
import { startServer } from '../server.js';
import { DEV_CERT_FILE, DEV_KEY_FILE, devTlsDir, loadOrCreateDevCertificate, resolveTls } from '../transport/index.js';
import { captureLogs } from './transport-fixtures.js';

/** DER of the ecdsa-with-SHA256 algorithm identifier's OID (1.2.840.10045.4.3.2). */
const ECDSA_WITH_SHA256 = Buffer.from('06082a8648ce3d040302', 'hex');

async function startupError(promise: Promise<unknown>): Promise<StartupError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(StartupError);
    return error as StartupError;
  }
  throw new Error('expected a StartupError');
}

describe('server/transport resolveTls', () => {
  let dir: string;
  const configs: ServerConfig[] = [];
  const config = (environment: ServerConfig['environment'], tlsConfig: TlsConfig): ServerConfig => {
    const made = testServerConfig({ environment, tls: tlsConfig });
    configs.push(made);
    return made;
  };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kecalek-tls-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
    for (const made of configs.splice(0)) await rm(made.dataDir, { recursive: true, force: true });
  });

  it('refuses a self-signed certificate in production, saying what to set', async () => {
    const error = await startupError(resolveTls(config('production', { mode: 'self-signed', cacheDir: dir }), captureLogs().logger));
    expect(error.code).to.equal('tls_required');
    expect(error.message).to.include('TLS_CERT_FILE');
    expect(error.message).to.include('TLS_KEY_FILE');
    expect(error.message).to.include('ENVIRONMENT=dev');
  });

  it('refuses plaintext in production and warns about it in development', async () => {
    const error = await startupError(resolveTls(config('production', { mode: 'plain' }), captureLogs().logger));
    expect(error.code).to.equal('tls_required');
    expect(error.message).to.include('ALLOW_PLAINTEXT');
    const logs = captureLogs('warn');
    expect(await resolveTls(config('dev', { mode: 'plain' }), logs.logger)).to.equal(undefined);
    expect(logs.lines.some((line) => line.level === 40 && /NOT encrypted/.test(String(line.msg)))).to.equal(true);
  });

  it('generates a self-signed development certificate (EC, sha256, ~1 year, localhost names), 0700/0600, and warns', async () => {
    const cacheDir = join(dir, 'dev-tls');
    const logs = captureLogs('info');
    const context = (await resolveTls(config('dev', { mode: 'self-signed', cacheDir }), logs.logger))!;
    expect(context.selfSigned).to.equal(true);
    expect(context.certFile).to.equal(join(cacheDir, DEV_CERT_FILE));
    expect((await stat(cacheDir)).mode & 0o777).to.equal(0o700);
    expect((await stat(join(cacheDir, DEV_KEY_FILE))).mode & 0o777).to.equal(0o600);
    const certificate = new X509Certificate(await readFile(join(cacheDir, DEV_CERT_FILE)));
    expect(certificate.subject).to.equal('CN=localhost');
    expect(certificate.subjectAltName).to.include('DNS:localhost');
    expect(certificate.subjectAltName).to.include('IP Address:127.0.0.1');
    expect(certificate.subjectAltName).to.match(/IP Address:(0:0:0:0:0:0:0:1|::1)/);
    expect(certificate.raw.includes(ECDSA_WITH_SHA256)).to.equal(true);
    const days = (new Date(certificate.validTo).getTime() - Date.now()) / 86_400_000;
    expect(days).to.be.within(360, 367);
    expect(context.serverOptions).to.deep.include({ minVersion: 'TLSv1.2', honorCipherOrder: true, handshakeTimeout: 10_000 });
    for (const suite of String(context.serverOptions.ciphers).split(':')) {
      // TLS 1.3 suites, or TLS 1.2 with ephemeral ECDH and an AEAD cipher.
      expect(suite).to.match(/^(TLS_.*|ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305))$/);
    }
    expect(logs.lines.some((line) => line.level === 40 && /SELF-SIGNED/.test(String(line.msg)))).to.equal(true);

    // Reused while valid: no second generation.
    const again = captureLogs('info');
    const reused = (await resolveTls(config('test', { mode: 'self-signed', cacheDir }), again.logger))!;
    expect(reused.certificate).to.equal(context.certificate);
    expect(again.lines.some((line) => /generated/.test(String(line.msg)))).to.equal(false);
  });

  it('defaults the cache to <dataDir>/dev-tls', () => {
    const made = config('dev', { mode: 'self-signed' });
    expect(devTlsDir(made)).to.equal(join(made.dataDir, 'dev-tls'));
  });

  it('replaces a cached certificate that is expiring or does not match its key', async () => {
    const cacheDir = join(dir, 'dev-tls');
    const first = await loadOrCreateDevCertificate(cacheDir, captureLogs().logger);
    const stale = await generate([{ name: 'commonName', value: 'localhost' }], {
      algorithm: 'sha256',
      keyType: 'ec',
      notAfterDate: new Date(Date.now() + 86_400_000),
    });
    await writeFile(join(cacheDir, DEV_CERT_FILE), stale.cert);
    await writeFile(join(cacheDir, DEV_KEY_FILE), stale.private);
    const renewed = await loadOrCreateDevCertificate(cacheDir, captureLogs().logger);
    expect(renewed.cert).to.not.equal(stale.cert);
    expect(renewed.cert).to.not.equal(first.cert);
    // A key from another pair: regenerated as well.
    await writeFile(join(cacheDir, DEV_KEY_FILE), first.key);
    const matched = await loadOrCreateDevCertificate(cacheDir, captureLogs().logger);
    expect(new X509Certificate(matched.cert).checkPrivateKey((await import('node:crypto')).createPrivateKey(matched.key))).to.equal(true);
  });

  it('lets concurrent starts share one generated certificate', async () => {
    const cacheDir = join(dir, 'shared');
    const pairs = await Promise.all(Array.from({ length: 6 }, () => loadOrCreateDevCertificate(cacheDir, captureLogs().logger)));
    for (const pair of pairs) expect(pair.cert).to.equal(pairs[0]!.cert);
  });

  describe('certificate files', () => {
    let certFile: string;
    let keyFile: string;
    let otherKey: string;
    beforeEach(async () => {
      const pems = await generate([{ name: 'commonName', value: 'localhost' }], { algorithm: 'sha256', keyType: 'ec' });
      const other = await generate([{ name: 'commonName', value: 'localhost' }], { algorithm: 'sha256', keyType: 'ec' });
      certFile = join(dir, 'cert.pem');
      keyFile = join(dir, 'key.pem');
      otherKey = join(dir, 'other-key.pem');
      await writeFile(certFile, pems.cert);
      await writeFile(keyFile, pems.private, { mode: 0o600 });
      await writeFile(otherKey, other.private, { mode: 0o600 });
    });

    it('loads a certificate and its key in production', async () => {
      const context = (await resolveTls(config('production', { mode: 'files', certFile, keyFile }), captureLogs().logger))!;
      expect(context.selfSigned).to.equal(false);
      expect(context.certificate).to.equal(await readFile(certFile, 'utf8'));
      expect(context.serverOptions.minVersion).to.equal('TLSv1.2');
    });

    it('names the variable and the file when something is missing or wrong', async () => {
      const logger = captureLogs().logger;
      const missingCert = await startupError(resolveTls(config('production', { mode: 'files', certFile: join(dir, 'nope.pem'), keyFile }), logger));
      expect(missingCert.code).to.equal('tls_required');
      expect(missingCert.message).to.equal(`TLS_CERT_FILE ${join(dir, 'nope.pem')} does not exist`);
      const missingKey = await startupError(resolveTls(config('production', { mode: 'files', certFile, keyFile: join(dir, 'gone.pem') }), logger));
      expect(missingKey.message).to.equal(`TLS_KEY_FILE ${join(dir, 'gone.pem')} does not exist`);
      const missingCa = await startupError(resolveTls(config('production', { mode: 'files', certFile, keyFile, caFile: join(dir, 'ca.pem') }), logger));
      expect(missingCa.message).to.equal(`TLS_CA_FILE ${join(dir, 'ca.pem')} does not exist`);
      const mismatched = await startupError(resolveTls(config('production', { mode: 'files', certFile, keyFile: otherKey }), logger));
      expect(mismatched.message).to.match(/^TLS_KEY_FILE .* is not the key of the certificate in TLS_CERT_FILE/);
      await writeFile(join(dir, 'garbage.pem'), 'not a certificate');
      const garbage = await startupError(resolveTls(config('production', { mode: 'files', certFile: join(dir, 'garbage.pem'), keyFile }), logger));
      expect(garbage.message).to.match(/^TLS_CERT_FILE .* does not contain a PEM certificate$/);
      for (const error of [missingCert, missingKey, missingCa, mismatched, garbage]) expect(error.message).to.not.include('\n');
    });
  });
});

describe('server start-up and TLS', () => {
  let cwd: string;
  beforeEach(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'kecalek-start-'));
  });
  afterEach(() => rm(cwd, { recursive: true, force: true }));

  it('refuses to start in production without certificate files (tls_required)', async () => {
    const config = loadServerConfig({ env: { SERVER_PORT: '0', WS_PORT: '0', LOG_LEVEL: 'silent' }, cwd });
    const error = await startupError(startServer(config, { logger: captureLogs().logger }));
    expect(error.code).to.equal('tls_required');
  });

  it('generates a self-signed certificate in development and serves TLS with it', async () => {
    const config = loadServerConfig({ env: { SERVER_PORT: '0', WS_PORT: 'off', LOG_LEVEL: 'silent' }, cwd, dev: true });
    const server = await startServer(config, { logger: captureLogs().logger });
    try {
      const certificate = await readFile(join(cwd, 'data', 'dev-tls', DEV_CERT_FILE), 'utf8');
      const protocol = await new Promise<string | null>((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: server.ports.tcp, ca: certificate, servername: 'localhost' }, () => {
          resolve(socket.getProtocol());
          socket.destroy();
        });
        socket.on('error', reject);
      });
      expect(protocol).to.equal('TLSv1.3');
      expect(server.tls).to.equal(true);
      expect(server.ports.ws).to.equal(undefined);
    } finally {
      await server.close();
    }
  });
});
