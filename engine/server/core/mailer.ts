/**
 * Registration mail. With SMTP configured (production) it goes out through nodemailer. Without
 * SMTP (development) each mail is written as a JSON file to `<dataDir>/outbox/` (folder 0700,
 * file 0600) and one log line marked `[development mode: no SMTP]` says so — outside production
 * that line carries the code itself, so a developer can register straight from the server log.
 * The email address is never logged.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from 'pino';
import type { ServerConfig, SmtpConfig } from '../config-types.js';

export interface Mailer {
  /** `smtp`: real mail; `outbox`: development files under `<dataDir>/outbox/`. */
  readonly mode: 'smtp' | 'outbox';
  /** Mails the 6-digit registration code to the address being registered. */
  sendRegistrationCode(to: { email: string; username: string }, code: string): Promise<void>;
  /** Tells the owner of an existing account that someone tried to register their address (no code). */
  sendRegistrationAttemptNotice(email: string): Promise<void>;
  close(): Promise<void>;
}

/** One mail as the development outbox stores it (`<dataDir>/outbox/<epoch ms>-<hex>.json`). */
export interface OutboxMail {
  readonly kind: 'registration' | 'registration_attempt';
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  /** The registration code (registration mails only). */
  readonly code: string | null;
  readonly created_at: number;
}

interface MailContent {
  readonly subject: string;
  readonly text: string;
}

export const OUTBOX_FOLDER = 'outbox';
export const DEV_MODE_MARK = '[development mode: no SMTP]';

export function createMailer(config: ServerConfig, log: Logger): Mailer {
  const ttlMinutes = Math.max(1, Math.round(config.registrationCodeTtlMs / 60_000));
  return config.smtp ? new SmtpMailer(config.smtp, ttlMinutes) : new OutboxMailer(config, log, ttlMinutes);
}

function registrationMail(username: string, code: string, ttlMinutes: number): MailContent {
  return {
    subject: 'Your Kecalek registration code',
    text: [
      `Hello ${username},`,
      '',
      `your Kecalek registration code is: ${code}`,
      '',
      `Enter it in your Kecalek client to finish creating your account. The code is valid for ${ttlMinutes} ${ttlMinutes === 1 ? 'minute' : 'minutes'}.`,
      '',
      'If you did not ask to register, ignore this mail: no account is created without the code.',
      '',
      '-- Kecalek',
      '',
    ].join('\n'),
  };
}

function attemptNotice(): MailContent {
  return {
    subject: 'Kecalek: someone tried to register your address',
    text: [
      'Hello,',
      '',
      'someone just tried to register a new Kecalek account with this email address, which already belongs to your account.',
      'Nothing has changed: your account, your keys and your devices are as they were, and no code was issued.',
      '',
      'If it was you, you already have an account: log in with your existing client or link a new device from it.',
      'If it was not you, you need not do anything.',
      '',
      '-- Kecalek',
      '',
    ].join('\n'),
  };
}

class SmtpMailer implements Mailer {
  readonly mode = 'smtp' as const;
  private readonly transport: Transporter;

  constructor(
    private readonly smtp: SmtpConfig,
    private readonly ttlMinutes: number,
  ) {
    this.transport = nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.secure,
      auth: smtp.user !== undefined ? { user: smtp.user, pass: smtp.password ?? '' } : undefined,
      // Development only: no STARTTLS upgrade and no certificate check.
      ignoreTLS: smtp.ignoreTls === true,
      tls: smtp.ignoreTls === true ? { rejectUnauthorized: false } : undefined,
      connectionTimeout: 15_000,
      greetingTimeout: 15_000,
      socketTimeout: 30_000,
    });
  }

  async sendRegistrationCode(to: { email: string; username: string }, code: string): Promise<void> {
    await this.send(to.email, registrationMail(to.username, code, this.ttlMinutes));
  }

  async sendRegistrationAttemptNotice(email: string): Promise<void> {
    await this.send(email, attemptNotice());
  }

  async close(): Promise<void> {
    this.transport.close();
  }

  private async send(to: string, mail: MailContent): Promise<void> {
    await this.transport.sendMail({ from: this.smtp.from, to, subject: mail.subject, text: mail.text });
  }
}

class OutboxMailer implements Mailer {
  readonly mode = 'outbox' as const;
  private readonly folder: string;
  private readonly logCodes: boolean;

  constructor(
    config: ServerConfig,
    private readonly log: Logger,
    private readonly ttlMinutes: number,
  ) {
    this.folder = join(config.dataDir, OUTBOX_FOLDER);
    this.logCodes = config.environment !== 'production';
  }

  async sendRegistrationCode(to: { email: string; username: string }, code: string): Promise<void> {
    const file = await this.write('registration', to.email, registrationMail(to.username, code, this.ttlMinutes), code);
    const codePart = this.logCodes ? `: ${code}` : '';
    this.log.warn({ outbox_file: file }, `${DEV_MODE_MARK} a registration code for user "${to.username}" was written to the outbox${codePart}`);
  }

  async sendRegistrationAttemptNotice(email: string): Promise<void> {
    const file = await this.write('registration_attempt', email, attemptNotice(), null);
    this.log.warn({ outbox_file: file }, `${DEV_MODE_MARK} a notice about a registration attempt for an existing account was written to the outbox`);
  }

  async close(): Promise<void> {}

  private async write(kind: OutboxMail['kind'], to: string, mail: MailContent, code: string | null): Promise<string> {
    await mkdir(this.folder, { recursive: true, mode: 0o700 });
    await chmod(this.folder, 0o700);
    const createdAt = Date.now();
    const name = `${createdAt}-${randomBytes(8).toString('hex')}.json`;
    const entry: OutboxMail = { kind, to, subject: mail.subject, text: mail.text, code, created_at: createdAt };
    await writeFile(join(this.folder, name), JSON.stringify(entry, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    return name;
  }
}
