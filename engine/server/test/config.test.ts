import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StartupError } from '../../errors.js';
import { DEFAULT_KEEPALIVE, DEFAULT_LIMITS, DEFAULT_PLUGINS, DEFAULT_RATE_LIMITS } from '../config-types.js';
import { TEST_TLS_CACHE_DIR, loadServerConfig, testServerConfig, type Env } from '../config.js';

/** The StartupError a config load throws (fails the test if it does not throw one). */
function configError(env: Env, cwd: string, dev = false): StartupError {
  try {
    loadServerConfig({ env, cwd, dev });
  } catch (error) {
    expect(error).to.be.instanceOf(StartupError);
    return error as StartupError;
  }
  throw new Error(`expected the configuration ${JSON.stringify(env)} to be refused`);
}

describe('server/config loadServerConfig', () => {
  let cwd: string;
  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), 'kecalek-config-'));
  });
  afterEach(() => rmSync(cwd, { recursive: true, force: true }));

  it('gives production defaults with no variables', () => {
    const config = loadServerConfig({ env: {}, cwd });
    expect(config.environment).to.equal('production');
    expect(config.host).to.equal('0.0.0.0');
    expect(config.port).to.equal(7443);
    expect(config.wsPort).to.equal(7444);
    expect(config.wsPath).to.equal('/ws');
    // Refused later by resolveTls in production, with a line saying what to set.
    expect(config.tls).to.deep.equal({ mode: 'self-signed' });
    expect(config.databaseUrl).to.equal(undefined);
    expect(config.dataDir).to.equal(join(cwd, 'data'));
    expect(config.uploadDir).to.equal(join(cwd, 'data', 'uploads'));
    expect(config.plugins).to.deep.equal([...DEFAULT_PLUGINS]);
    expect(config.pluginSettings).to.deep.equal({});
    expect(config.cwd).to.equal(cwd);
    expect(config.limits).to.deep.equal(DEFAULT_LIMITS);
    expect(config.rateLimits).to.deep.equal(DEFAULT_RATE_LIMITS);
    expect(config.keepalive).to.deep.equal(DEFAULT_KEEPALIVE);
    expect(config.smtp).to.equal(undefined);
    expect(config.minClientVersion).to.equal('0.1.0');
    expect(config.registrationCodeTtlMs).to.equal(15 * 60_000);
    expect(config.metadataRetentionDays).to.equal(90);
    expect(config.phantomRetentionDays).to.equal(30);
    expect(config.logLevel).to.equal('info');
    expect(config.redisUrl).to.equal(undefined);
    expect(config.serverSecret).to.equal(undefined);
  });

  it('gives development defaults with dev: true (npm start)', () => {
    const config = loadServerConfig({ env: {}, cwd, dev: true });
    expect(config.environment).to.equal('dev');
    expect(config.host).to.equal('127.0.0.1');
    expect(config.tls).to.deep.equal({ mode: 'self-signed' });
    // An explicit ENVIRONMENT still wins over the flag's default.
    expect(loadServerConfig({ env: { ENVIRONMENT: 'test' }, cwd, dev: true }).environment).to.equal('test');
  });

  it('parses every variable', () => {
    writeFileSync(join(cwd, 'cert.pem'), 'x');
    const secret = 'ab'.repeat(32);
    const config = loadServerConfig({
      cwd,
      env: {
        ENVIRONMENT: 'production',
        SERVER_HOST: '::',
        SERVER_PORT: '9000',
        WS_PORT: '9001',
        WS_PATH: '/chat/ws',
        TLS_CERT_FILE: 'cert.pem',
        TLS_KEY_FILE: '/etc/kecalek/key.pem',
        TLS_CA_FILE: 'ca.pem',
        DATABASE_URL: 'mysql://kecalek:pw@db.example:3307/kecalek',
        DATA_DIR: 'state',
        UPLOAD_DIR: '/srv/uploads',
        PLUGINS: 'reactions, ./my-plugin ,kecalek-plugin-x',
        MAX_FRAME_BYTES: '2000000',
        MAX_BODY_BYTES: '8000000',
        MAX_MESSAGE_BYTES: '50000',
        MAX_RECIPIENTS: '64',
        MAX_CONNECTIONS: '500',
        MAX_CONNECTIONS_PER_IP: '12',
        CONNECTION_REQUESTS_PER_SEC: '20',
        CONNECTION_BURST: '40',
        MAX_QUEUED_REQUESTS: '32',
        MAX_WRITE_BUFFER_BYTES: '1048576',
        MAX_GROUP_MEMBERS: '100',
        MAX_DEVICES_PER_USER: '4',
        RATE_REGISTER_PER_MIN: '2',
        RATE_REGISTER_PER_IP_PER_HOUR: '7',
        RATE_LOGIN_PER_MIN: '9',
        RATE_SEND_PER_MIN: '30',
        RATE_PAIRING_START_PER_MIN: '5',
        RATE_PAIRING_POLL_PER_MIN: '60',
        KEEPALIVE_IDLE_MS: '20000',
        WS_PING_MS: '15000',
        LOGIN_TIMEOUT_MS: '60000',
        SMTP_HOST: 'smtp.example',
        SMTP_PORT: '465',
        SMTP_USER: 'mailer',
        SMTP_PASS: ' spaced secret ',
        SMTP_FROM: 'Chat <chat@example.org>',
        MIN_CLIENT_VERSION: '0.2.0',
        LOG_LEVEL: 'WARN',
        METADATA_RETENTION_DAYS: '30',
        PHANTOM_RETENTION_DAYS: '7',
        MAINTENANCE_INTERVAL_MS: '60000',
        REGISTRATION_CODE_TTL_MIN: '10',
        REDIS_URL: 'redis://cache:6379/0',
        SERVER_SECRET: secret,
      },
    });
    expect(config).to.deep.include({
      environment: 'production',
      host: '::',
      port: 9000,
      wsPort: 9001,
      wsPath: '/chat/ws',
      databaseUrl: 'mysql://kecalek:pw@db.example:3307/kecalek',
      dataDir: join(cwd, 'state'),
      uploadDir: '/srv/uploads',
      minClientVersion: '0.2.0',
      logLevel: 'warn',
      metadataRetentionDays: 30,
      phantomRetentionDays: 7,
      maintenanceIntervalMs: 60000,
      registrationCodeTtlMs: 10 * 60_000,
      redisUrl: 'redis://cache:6379/0',
      serverSecret: secret,
    });
    expect(config.plugins).to.deep.equal(['reactions', './my-plugin', 'kecalek-plugin-x']);
    expect(config.tls).to.deep.equal({
      mode: 'files',
      certFile: join(cwd, 'cert.pem'),
      keyFile: '/etc/kecalek/key.pem',
      caFile: join(cwd, 'ca.pem'),
    });
    expect(config.limits).to.deep.equal({
      maxFrameBytes: 2000000,
      maxBodyBytes: 8000000,
      maxMessageBytes: 50000,
      maxRecipients: 64,
      maxConnections: 500,
      maxConnectionsPerIp: 12,
      connectionRequestsPerSec: 20,
      connectionBurst: 40,
      maxQueuedRequests: 32,
      maxWriteBufferBytes: 1048576,
      maxGroupMembers: 100,
      maxDevicesPerUser: 4,
    });
    expect(config.rateLimits).to.deep.equal({
      registerPerMinute: 2,
      registerPerIpPerHour: 7,
      loginPerMinute: 9,
      sendPerMinute: 30,
      pairingStartPerMinute: 5,
      pairingPollPerMinute: 60,
    });
    expect(config.keepalive).to.deep.equal({ idleMs: 20000, wsPingMs: 15000, loginTimeoutMs: 60000 });
    expect(config.smtp).to.deep.equal({
      host: 'smtp.example',
      port: 465,
      secure: true,
      user: 'mailer',
      password: ' spaced secret ',
      from: 'Chat <chat@example.org>',
    });
  });

  it('turns WebSocket off with WS_PORT=off, and takes 0 for free ports', () => {
    expect(loadServerConfig({ env: { WS_PORT: 'off' }, cwd }).wsPort).to.equal(undefined);
    const free = loadServerConfig({ env: { WS_PORT: '0', SERVER_PORT: '0' }, cwd });
    expect(free.port).to.equal(0);
    expect(free.wsPort).to.equal(0);
  });

  it('selects TLS modes: self-signed in dev, plaintext only when asked', () => {
    expect(loadServerConfig({ env: { ENVIRONMENT: 'dev', ALLOW_PLAINTEXT: 'true' }, cwd }).tls).to.deep.equal({ mode: 'plain' });
    expect(loadServerConfig({ env: { ENVIRONMENT: 'dev', TLS_SELF_SIGNED: 'yes' }, cwd }).tls).to.deep.equal({ mode: 'self-signed' });
    expect(configError({ ENVIRONMENT: 'dev', TLS_SELF_SIGNED: 'false' }, cwd).message).to.match(/^TLS_SELF_SIGNED=false needs TLS_CERT_FILE/);
    expect(configError({ TLS_CERT_FILE: 'a.pem' }, cwd).message).to.equal('TLS_CERT_FILE is set but TLS_KEY_FILE is not: set both');
    expect(configError({ TLS_KEY_FILE: 'a.pem' }, cwd).message).to.equal('TLS_KEY_FILE is set but TLS_CERT_FILE is not: set both');
    expect(configError({ TLS_CERT_FILE: 'a', TLS_KEY_FILE: 'b', ALLOW_PLAINTEXT: '1' }, cwd).message).to.match(/^ALLOW_PLAINTEXT=true conflicts/);
  });

  const invalidCases: Array<[Env, RegExp]> = [
    [{ ENVIRONMENT: 'staging' }, /^ENVIRONMENT must be one of production, dev, test, got "staging"$/],
    [{ SERVER_PORT: 'abc' }, /^SERVER_PORT must be a whole number from 0 to 65535, got "abc"$/],
    [{ SERVER_PORT: '70000' }, /^SERVER_PORT must be a whole number from 0 to 65535, got 70000$/],
    [{ WS_PORT: '-1' }, /^WS_PORT must be a whole number/],
    [{ SERVER_PORT: '8000', WS_PORT: '8000' }, /^WS_PORT must differ from SERVER_PORT/],
    [{ WS_PATH: 'ws' }, /^WS_PATH must be a URL path starting with "\/"/],
    [{ SERVER_HOST: 'bad host' }, /^SERVER_HOST must be a host name or IP address/],
    [{ MAX_FRAME_BYTES: '1.5' }, /^MAX_FRAME_BYTES must be a whole number/],
    [{ MAX_FRAME_BYTES: '100' }, /^MAX_FRAME_BYTES must be a whole number from 4096/],
    [{ MAX_BODY_BYTES: 'lots' }, /^MAX_BODY_BYTES must be a whole number/],
    [{ MAX_MESSAGE_BYTES: '2000000' }, /^MAX_MESSAGE_BYTES \(2000000\) must be smaller than MAX_FRAME_BYTES/],
    [{ MAX_RECIPIENTS: '0' }, /^MAX_RECIPIENTS must be a whole number of at least 1, got 0$/],
    [{ MAX_CONNECTIONS: 'x' }, /^MAX_CONNECTIONS must be/],
    [{ MAX_CONNECTIONS_PER_IP: '0' }, /^MAX_CONNECTIONS_PER_IP must be/],
    [{ CONNECTION_REQUESTS_PER_SEC: '0' }, /^CONNECTION_REQUESTS_PER_SEC must be/],
    [{ MAX_GROUP_MEMBERS: '1' }, /^MAX_GROUP_MEMBERS must be a whole number of at least 2/],
    [{ MAX_DEVICES_PER_USER: 'many' }, /^MAX_DEVICES_PER_USER must be/],
    [{ RATE_REGISTER_PER_MIN: '0' }, /^RATE_REGISTER_PER_MIN must be/],
    [{ RATE_LOGIN_PER_MIN: 'ten' }, /^RATE_LOGIN_PER_MIN must be/],
    [{ RATE_SEND_PER_MIN: '-5' }, /^RATE_SEND_PER_MIN must be/],
    [{ SMTP_PORT: '25' }, /^SMTP_PORT is set but SMTP_HOST is not$/],
    [{ SMTP_HOST: 'mail', SMTP_SECURE: 'maybe' }, /^SMTP_SECURE must be true or false, got "maybe"$/],
    [{ SMTP_HOST: 'mail', SMTP_PASS: 'x' }, /^SMTP_PASS is set but SMTP_USER is not$/],
    [{ SMTP_HOST: 'mail', SMTP_FROM: 'nobody' }, /^SMTP_FROM must be an email address/],
    [{ MIN_CLIENT_VERSION: '1.0' }, /^MIN_CLIENT_VERSION must be a version x\.y\.z/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent/],
    [{ METADATA_RETENTION_DAYS: '0' }, /^METADATA_RETENTION_DAYS must be/],
    [{ PHANTOM_RETENTION_DAYS: 'never' }, /^PHANTOM_RETENTION_DAYS must be/],
    [{ MAINTENANCE_INTERVAL_MS: '10' }, /^MAINTENANCE_INTERVAL_MS must be a whole number of at least 1000/],
    [{ REGISTRATION_CODE_TTL_MIN: '100000' }, /^REGISTRATION_CODE_TTL_MIN must be a whole number from 1 to 1440/],
    [{ REDIS_URL: 'http://cache' }, /^REDIS_URL must be redis:\/\//],
    [{ SERVER_SECRET: 'short' }, /^SERVER_SECRET must be at least 32 bytes/],
    [{ DATABASE_URL: 'postgres://u:p@h/db' }, /^DATABASE_URL must be mysql:\/\//],
    [{ DATABASE_URL: 'mysql://u:p@h' }, /^DATABASE_URL must name a host and a database/],
    [{ ALLOW_PLAINTEXT: 'perhaps' }, /^ALLOW_PLAINTEXT must be true or false/],
  ];
  for (const [env, expected] of invalidCases) {
    const name = Object.entries(env).map(([key, value]) => `${key}=${value}`).join(' ');
    it(`refuses ${name} with one line naming the variable`, () => {
      const error = configError(env, cwd);
      expect(error.code).to.equal('config_invalid');
      expect(error.message).to.match(expected);
      expect(error.message).to.not.include('\n');
    });
  }

  it('never repeats a database password in its message', () => {
    const error = configError({ DATABASE_URL: 'mysql://root:hunter2@db' }, cwd);
    expect(error.message).to.not.include('hunter2');
  });

  it('reads <cwd>/.env without overriding variables that are set', () => {
    writeFileSync(join(cwd, '.env'), 'SERVER_PORT=9100\nWS_PATH=/from-dotenv\n# comment\nLOG_LEVEL=debug\n');
    const config = loadServerConfig({ env: { LOG_LEVEL: 'error' }, cwd });
    expect(config.port).to.equal(9100);
    expect(config.wsPath).to.equal('/from-dotenv');
    expect(config.logLevel).to.equal('error');
  });

  it('takes plugins and settings from kecalek.config.json; PLUGINS overrides the list', () => {
    writeFileSync(join(cwd, 'kecalek.config.json'), JSON.stringify({ plugins: ['reactions', 'pins'], settings: { reactions: { max: 5 } } }));
    const fromFile = loadServerConfig({ env: {}, cwd });
    expect(fromFile.plugins).to.deep.equal(['reactions', 'pins']);
    expect(fromFile.pluginSettings).to.deep.equal({ reactions: { max: 5 } });
    const overridden = loadServerConfig({ env: { PLUGINS: 'reactions' }, cwd });
    expect(overridden.plugins).to.deep.equal(['reactions']);
    expect(overridden.pluginSettings).to.deep.equal({ reactions: { max: 5 } });
    expect(loadServerConfig({ env: { PLUGINS: '' }, cwd }).plugins).to.deep.equal([]);
  });

  it('reads the file named by KECALEK_CONFIG and refuses a broken one naming it', () => {
    const path = join(cwd, 'custom.json');
    writeFileSync(path, JSON.stringify({ plugins: ['a-plugin'] }));
    expect(loadServerConfig({ env: { KECALEK_CONFIG: 'custom.json' }, cwd }).plugins).to.deep.equal(['a-plugin']);
    expect(configError({ KECALEK_CONFIG: 'missing.json' }, cwd).message).to.match(/^KECALEK_CONFIG: .*missing\.json cannot be read \(ENOENT\)$/);
    writeFileSync(path, '{ not json');
    expect(configError({ KECALEK_CONFIG: path }, cwd).message).to.match(/custom\.json is not valid JSON/);
    writeFileSync(path, JSON.stringify({ plugin: [] }));
    expect(configError({ KECALEK_CONFIG: path }, cwd).message).to.match(/unknown key "plugin"/);
    writeFileSync(path, JSON.stringify({ plugins: 'reactions' }));
    expect(configError({ KECALEK_CONFIG: path }, cwd).message).to.match(/"plugins" must be a list/);
    writeFileSync(path, JSON.stringify({ settings: { reactions: 5 } }));
    expect(configError({ KECALEK_CONFIG: path }, cwd).message).to.match(/"settings\.reactions" must be an object/);
  });

  it('refuses a plugin listed twice', () => {
    expect(configError({ PLUGINS: 'a,b,a' }, cwd).message).to.equal('PLUGINS lists "a" twice');
  });

  it('applies overrides last, merging the nested groups', () => {
    const config = loadServerConfig({ env: { MAX_RECIPIENTS: '10' }, cwd, overrides: { port: 1, limits: { maxConnections: 3 }, wsPort: undefined } });
    expect(config.port).to.equal(1);
    expect(config.wsPort).to.equal(undefined);
    expect(config.limits.maxConnections).to.equal(3);
    expect(config.limits.maxRecipients).to.equal(10);
  });
});

describe('server/config testServerConfig', () => {
  it('gives a test configuration with a fresh data folder', () => {
    const a = testServerConfig();
    const b = testServerConfig({ limits: { connectionRequestsPerSec: 2 }, keepalive: { loginTimeoutMs: 100 } });
    try {
      expect(a.environment).to.equal('test');
      expect(a.host).to.equal('127.0.0.1');
      expect(a.port).to.equal(0);
      expect(a.wsPort).to.equal(0);
      expect(a.tls).to.deep.equal({ mode: 'self-signed', cacheDir: TEST_TLS_CACHE_DIR });
      expect(a.smtp).to.equal(undefined);
      expect(a.databaseUrl).to.equal(undefined);
      expect(a.uploadDir).to.equal(join(a.dataDir, 'uploads'));
      expect(a.dataDir).to.not.equal(b.dataDir);
      expect(a.maintenanceIntervalMs).to.be.at.most(5000);
      expect(a.limits.connectionRequestsPerSec).to.be.greaterThan(1000);
      expect(b.limits.connectionRequestsPerSec).to.equal(2);
      expect(b.limits.maxFrameBytes).to.equal(DEFAULT_LIMITS.maxFrameBytes);
      expect(b.keepalive.loginTimeoutMs).to.equal(100);
      expect(b.keepalive.wsPingMs).to.equal(DEFAULT_KEEPALIVE.wsPingMs);
      if (!process.env.KECALEK_TEST_LOG) expect(a.logLevel).to.equal('silent');
    } finally {
      rmSync(a.dataDir, { recursive: true, force: true });
      rmSync(b.dataDir, { recursive: true, force: true });
    }
  });
});
