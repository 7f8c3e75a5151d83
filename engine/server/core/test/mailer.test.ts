/**
 * The registration mailer: real SMTP through an in-process SMTP server, and the development outbox
 * (files and the marked log line).
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { expect } from 'chai';
import { SMTPServer } from 'smtp-server';
import { createLogger } from '../../logger.js';
import type { ServerConfig, SmtpConfig } from '../../config-types.js';
import { testServerConfig, type ServerConfigOverrides } from '../../config.js';
import { createMailer, DEV_MODE_MARK, type OutboxMail } from '../mailer.js';
import { startTestServer } from '../../../testing/index.js';
import { ed25519KeyPair } from '../../../crypto/index.js';
import { encodeBase64 } from '../../../protocol/base64.js';

function mailerConfig(dataDir: string, overrides: ServerConfigOverrides = {}): ServerConfig {
  return testServerConfig({ dataDir, ...overrides });
}

function captureLog(): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(line) } });
  return { lines, logger };
}

interface ReceivedMail {
  readonly from: string;
  readonly to: string[];
  readonly raw: string;
}

describe('core mailer', () => {
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kecalek-mailer-'));
  });

  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  describe('SMTP', () => {
    let smtp: SMTPServer;
    let port: number;
    let received: ReceivedMail[];

    beforeEach(async () => {
      received = [];
      smtp = new SMTPServer({
        authOptional: true,
        disabledCommands: ['STARTTLS'],
        logger: false,
        onData(stream, session, callback) {
          const chunks: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
          stream.on('end', () => {
            received.push({
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
              raw: Buffer.concat(chunks).toString('utf8'),
            });
            callback();
          });
        },
      });
      await new Promise<void>((resolve, reject) => {
        smtp.once('error', reject);
        smtp.listen(0, '127.0.0.1', () => resolve());
      });
      port = (smtp.server.address() as AddressInfo).port;
    });

    afterEach(async () => {
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    });

    function smtpConfig(): SmtpConfig {
      return { host: '127.0.0.1', port, secure: false, from: 'Kecalek <kecalek@example.org>', ignoreTls: true };
    }

    it('delivers the registration code with its validity to the address', async () => {
      const { lines, logger } = captureLog();
      const mailer = createMailer(mailerConfig(dataDir, { smtp: smtpConfig(), registrationCodeTtlMs: 10 * 60_000 }), logger);
      expect(mailer.mode).to.equal('smtp');
      try {
        await mailer.sendRegistrationCode({ email: 'alice@example.org', username: 'alice' }, '048213');
      } finally {
        await mailer.close();
      }
      expect(received).to.have.length(1);
      const [mail] = received;
      expect(mail!.from).to.equal('kecalek@example.org');
      expect(mail!.to).to.deep.equal(['alice@example.org']);
      expect(mail!.raw).to.include('048213');
      expect(mail!.raw).to.include('10 minutes');
      expect(mail!.raw).to.match(/^Subject: Your Kecalek registration code/m);
      expect(mail!.raw).to.match(/^Content-Type: text\/plain/m);
      // No development outbox and no log line with the code in SMTP mode.
      expect(lines.join('')).not.to.include('048213');
      await expectNoOutbox(dataDir);
    });

    it('delivers the registration-attempt notice without any code', async () => {
      const mailer = createMailer(mailerConfig(dataDir, { smtp: smtpConfig() }), captureLog().logger);
      try {
        await mailer.sendRegistrationAttemptNotice('bob@example.org');
      } finally {
        await mailer.close();
      }
      expect(received).to.have.length(1);
      expect(received[0]!.to).to.deep.equal(['bob@example.org']);
      expect(received[0]!.raw).to.match(/^Subject: Kecalek: someone tried to register your address/m);
      expect(received[0]!.raw).not.to.match(/\b\d{6}\b/);
    });

    it('carries a server registration end to end: register, code by SMTP, register_confirm', async () => {
      const server = await startTestServer({ config: { smtp: smtpConfig() } });
      const connection = await server.connect();
      try {
        const email = 'grace@example.org';
        await connection.expectOk('register', {
          username: 'grace',
          email,
          identity_key: encodeBase64(ed25519KeyPair().publicKey),
          login_key: encodeBase64(ed25519KeyPair().publicKey),
        });
        expect(received).to.have.length(1);
        expect(received[0]!.to).to.deep.equal([email]);
        const code = /registration code is: (\d{6})/.exec(received[0]!.raw)?.[1];
        expect(code).to.match(/^\d{6}$/);
        const confirmed = await connection.expectOk<{ username: string }>('register_confirm', { email, code });
        expect(confirmed.username).to.equal('grace');
        // Nothing went to the development outbox.
        await expectNoOutbox(server.dataDir);
      } finally {
        await connection.close();
        await server.close();
      }
    });

    it('answers internal_error, the same for every address, when the mail cannot be sent', async () => {
      const server = await startTestServer({ config: { smtp: { ...smtpConfig(), port: await unusedPort() } } });
      const connection = await server.connect();
      try {
        const error = await connection.expectError(
          'register',
          { username: 'henry', email: 'henry@example.org', identity_key: encodeBase64(ed25519KeyPair().publicKey), login_key: encodeBase64(ed25519KeyPair().publicKey) },
          'internal_error',
        );
        expect(error.message).to.equal('Could not send the email; try again later');
      } finally {
        await connection.close();
        await server.close();
      }
    });

    it('rejects when the SMTP server cannot be reached', async () => {
      const closedPort = await unusedPort();
      const mailer = createMailer(mailerConfig(dataDir, { smtp: { ...smtpConfig(), port: closedPort } }), captureLog().logger);
      try {
        let failed = false;
        await mailer.sendRegistrationCode({ email: 'carol@example.org', username: 'carol' }, '111111').catch(() => (failed = true));
        expect(failed).to.equal(true);
      } finally {
        await mailer.close();
      }
      expect(received).to.have.length(0);
    });
  });

  describe('development outbox', () => {
    it('writes the mail to a private file and logs the marked line with the code but not the address', async () => {
      const { lines, logger } = captureLog();
      const mailer = createMailer(mailerConfig(dataDir), logger);
      expect(mailer.mode).to.equal('outbox');
      await mailer.sendRegistrationCode({ email: 'dave@example.org', username: 'dave' }, '907561');
      await mailer.close();

      const folder = join(dataDir, 'outbox');
      expect((await stat(folder)).mode & 0o777).to.equal(0o700);
      const files = await readdir(folder);
      expect(files).to.have.length(1);
      expect(files[0]).to.match(/^\d{13}-[0-9a-f]{16}\.json$/);
      const path = join(folder, files[0]!);
      expect((await stat(path)).mode & 0o777).to.equal(0o600);
      const entry = JSON.parse(await readFile(path, 'utf8')) as OutboxMail;
      expect(entry.kind).to.equal('registration');
      expect(entry.to).to.equal('dave@example.org');
      expect(entry.code).to.equal('907561');
      expect(entry.subject).to.equal('Your Kecalek registration code');
      expect(entry.text).to.include('907561').and.to.include('15 minutes').and.to.include('dave');
      expect(entry.created_at).to.be.a('number');

      const log = lines.join('');
      expect(log).to.include(DEV_MODE_MARK);
      expect(log).to.include('user \\"dave\\"');
      expect(log).to.include('907561');
      expect(log).not.to.include('dave@example.org');
    });

    it('writes the notice without a code', async () => {
      const { lines, logger } = captureLog();
      const mailer = createMailer(mailerConfig(dataDir), logger);
      await mailer.sendRegistrationAttemptNotice('erin@example.org');
      const files = await readdir(join(dataDir, 'outbox'));
      const entry = JSON.parse(await readFile(join(dataDir, 'outbox', files[0]!), 'utf8')) as OutboxMail;
      expect(entry.kind).to.equal('registration_attempt');
      expect(entry.to).to.equal('erin@example.org');
      expect(entry.code).to.equal(null);
      expect(lines.join('')).to.include(DEV_MODE_MARK).and.not.to.include('erin@example.org');
    });

    it('keeps the code out of the log in production', async () => {
      const { lines, logger } = captureLog();
      const mailer = createMailer(mailerConfig(dataDir, { environment: 'production' }), logger);
      await mailer.sendRegistrationCode({ email: 'frank@example.org', username: 'frank' }, '314159');
      const log = lines.join('');
      expect(log).to.include(DEV_MODE_MARK);
      expect(log).not.to.include('314159');
      const files = await readdir(join(dataDir, 'outbox'));
      expect(files).to.have.length(1);
    });
  });
});

async function expectNoOutbox(dataDir: string): Promise<void> {
  const entries = await readdir(dataDir);
  expect(entries).not.to.include('outbox');
}

/** A port nothing listens on (a listener was opened on it and closed again). */
async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
