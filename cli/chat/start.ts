/**
 * The start screen: log in to an account this device knows, register a new account, or link
 * this device to an account used on another device. Returns the logged-in account, or
 * undefined when the user quits (or input ends).
 */
import type { ChatClient } from '../../engine/client/client.js';
import type { SelfInfo } from '../../engine/client/types.js';
import { KecalekError } from '../../engine/errors.js';
import { EMAIL_PATTERN, USERNAME_MAX_LENGTH, USERNAME_PATTERN } from '../../engine/protocol/validation.js';
import { knownAccounts } from './accounts.js';
import { describeError } from './errors.js';
import type { Terminal } from './prompt.js';
import { renderQr } from './qr.js';
import { formatTime, oneLine } from './render.js';
import type { Style } from './style.js';

const EMAIL = new RegExp(EMAIL_PATTERN);
const USERNAME = new RegExp(USERNAME_PATTERN);
/** Shortest password accepted for the local key store. */
export const MIN_PASSWORD_LENGTH = 8;
const LOGIN_ATTEMPTS = 3;
/** A lockout up to this long is waited out on its own; a longer one sends the user back to the menu. */
const MAX_LOCKOUT_WAIT_MS = 60_000;
const CODE_ATTEMPTS = 5;

export interface StartScreenOptions {
  readonly client: ChatClient;
  readonly terminal: Terminal;
  readonly style: Style;
  readonly home: string;
  /** --email: log in to this account straight away. */
  readonly email?: string;
  /** Prints an unexpected error's details (--debug). */
  readonly debug: (error: unknown) => void;
}

type Outcome = SelfInfo | 'menu' | 'quit';

export async function startScreen(options: StartScreenOptions): Promise<SelfInfo | undefined> {
  const { terminal } = options;
  let preferred = options.email?.trim();
  for (;;) {
    const accounts = await knownAccounts(options.home);
    let outcome: Outcome;
    if (preferred !== undefined) {
      const email = preferred.toLowerCase();
      preferred = undefined;
      if (accounts.some((account) => account.email === email)) {
        outcome = await login(options, email);
      } else {
        terminal.print(`This device has no keys for ${oneLine(email)} (in ${options.home}): register it or link this device first.`);
        outcome = 'menu';
      }
    } else {
      outcome = await menu(options, accounts.map((account) => account.email));
    }
    if (outcome === 'quit') return undefined;
    if (outcome !== 'menu') return outcome;
    if (terminal.closed) return undefined;
  }
}

async function menu(options: StartScreenOptions, emails: readonly string[]): Promise<Outcome> {
  const { terminal, style } = options;
  terminal.print('');
  if (emails.length > 0) {
    terminal.print(style.bold('Log in:'));
    emails.forEach((email, index) => terminal.print(`  ${index + 1}. ${oneLine(email)}`));
  } else {
    terminal.print('No account is set up on this device yet.');
  }
  terminal.print(`  r. register a new account`);
  terminal.print(`  l. link this device to an account you use on another device`);
  terminal.print(`  q. quit`);
  const fallback = emails.length > 0 ? '1' : 'r';
  const answer = await terminal.ask(`Choose [${fallback}]: `);
  if (answer === undefined) return 'quit';
  const choice = (answer === '' ? fallback : answer).toLowerCase();
  if (/^\d+$/.test(choice)) {
    const email = emails[Number(choice) - 1];
    if (email === undefined) {
      terminal.print(`There is no account ${choice}.`);
      return 'menu';
    }
    return login(options, email);
  }
  if (choice === 'r' || choice === 'register') return register(options);
  if (choice === 'l' || choice === 'link') return link(options);
  if (choice === 'q' || choice === 'quit' || choice === 'exit') return 'quit';
  const typed = emails.find((email) => email === choice);
  if (typed) return login(options, typed);
  terminal.print(`"${oneLine(answer)}" is not one of the choices.`);
  return 'menu';
}

function report(options: StartScreenOptions, error: unknown): void {
  options.terminal.print(options.style.red(describeError(error)));
  options.debug(error);
}

async function login(options: StartScreenOptions, email: string): Promise<Outcome> {
  const { terminal } = options;
  for (let attempt = 1; attempt <= LOGIN_ATTEMPTS; attempt += 1) {
    const password = await terminal.askSecret(`Password for ${oneLine(email)}: `);
    if (password === undefined) return terminal.closed ? 'quit' : 'menu';
    if (password === '') return 'menu';
    try {
      return await loginWith(options, email, password);
    } catch (error) {
      if (hasCode(error, 'no_account')) {
        // Registered on this device, but the mailed code was never entered.
        terminal.print('The registration of this account was not finished.');
        return enterCode(options, email, password);
      }
      report(options, error);
      // A wrong password (of the local key store) or its lockout: another try.
      if (!wrongPassword(error) && !hasCode(error, 'locked_out')) return 'menu';
    }
  }
  return 'menu';
}

/**
 * Logs in. While a short lockout from earlier wrong passwords runs, waits it out (Ctrl+C stops
 * waiting) instead of making the user type the password again.
 */
async function loginWith(options: StartScreenOptions, email: string, password: string): Promise<Outcome> {
  const { terminal, client, style } = options;
  for (;;) {
    try {
      const self = await client.login({ email, password });
      terminal.print(style.green(`Logged in as ${oneLine(self.username)} <${oneLine(self.email)}>.`));
      return self;
    } catch (error) {
      const wait = error instanceof KecalekError ? error.details?.retry_after_ms : undefined;
      if (!hasCode(error, 'locked_out') || typeof wait !== 'number' || wait > MAX_LOCKOUT_WAIT_MS) throw error;
      terminal.print(`Too many wrong passwords lately: trying again in ${Math.ceil(wait / 1000)} s… (Ctrl+C stops)`);
      const waited = await terminal.untilInterrupt(new Promise<true>((resolve) => setTimeout(() => resolve(true), wait + 50)));
      if (waited === undefined) return 'menu';
    }
  }
}

function hasCode(error: unknown, code: string): boolean {
  return error instanceof KecalekError && error.code === code;
}

/** The local key store refused the password (the client core reports it as invalid_credentials with the attempt count). */
function wrongPassword(error: unknown): boolean {
  return error instanceof KecalekError && error.code === 'invalid_credentials' && typeof error.details?.failed_attempts === 'number';
}

async function askNewPassword(options: StartScreenOptions, purpose: string): Promise<string | undefined> {
  const { terminal } = options;
  for (;;) {
    const password = await terminal.askSecret(`Password ${purpose} (at least ${MIN_PASSWORD_LENGTH} characters): `);
    if (password === undefined || password === '') return undefined;
    if (Array.from(password).length < MIN_PASSWORD_LENGTH) {
      terminal.print(`That is too short: use at least ${MIN_PASSWORD_LENGTH} characters.`);
      continue;
    }
    const again = await terminal.askSecret('Repeat the password: ');
    if (again === undefined) return undefined;
    if (again === password) return password;
    terminal.print('The two passwords differ. Try again.');
  }
}

async function register(options: StartScreenOptions): Promise<Outcome> {
  const { terminal, client } = options;
  terminal.print('New account. Your keys are made on this device; the password protects them here (the server never sees it).');
  let username: string | undefined;
  while (username === undefined) {
    const answer = await terminal.ask('Username: ');
    if (answer === undefined || answer === '') return 'menu';
    if (answer.length <= USERNAME_MAX_LENGTH && USERNAME.test(answer)) username = answer;
    else terminal.print(`A username is 1-${USERNAME_MAX_LENGTH} characters: letters, digits, dot, dash and underscore.`);
  }
  let email: string | undefined;
  while (email === undefined) {
    const answer = await terminal.ask('Email: ');
    if (answer === undefined || answer === '') return 'menu';
    if (EMAIL.test(answer)) email = answer;
    else terminal.print('That is not an email address.');
  }
  const password = await askNewPassword(options, 'for this device');
  if (password === undefined) return 'menu';
  try {
    await client.register({ username, email, password });
  } catch (error) {
    report(options, error);
    return 'menu';
  }
  terminal.print(`A 6-digit code was sent to ${oneLine(email)}.`);
  return enterCode(options, email, password);
}

/** Asks for the mailed registration code until it is accepted (the server allows 5 tries per code). */
async function enterCode(options: StartScreenOptions, email: string, password: string): Promise<Outcome> {
  const { terminal, client, style } = options;
  for (let attempt = 1; attempt <= CODE_ATTEMPTS; attempt += 1) {
    const answer = await terminal.ask('Code from the email: ');
    if (answer === undefined || answer === '') return 'menu';
    const code = answer.replace(/[\s-]/g, '');
    if (!/^\d{6}$/.test(code)) {
      terminal.print('The code has 6 digits.');
      attempt -= 1;
      continue;
    }
    try {
      const self = await client.confirmRegistration(code, { email, password });
      terminal.print(style.green(`Welcome, ${oneLine(self.username)}! Your account is ready and you are logged in.`));
      return self;
    } catch (error) {
      report(options, error);
      if (!hasCode(error, 'invalid_code')) return 'menu';
    }
  }
  terminal.print('Too many wrong codes: register again to get a new one.');
  return 'menu';
}

async function link(options: StartScreenOptions): Promise<Outcome> {
  const { terminal, client, style } = options;
  let request;
  try {
    request = await client.startLinking();
  } catch (error) {
    report(options, error);
    return 'menu';
  }
  const code = `${request.code.slice(0, 4)} ${request.code.slice(4)}`;
  terminal.print('To link this device, on a device where you are logged in type /link and enter this code:');
  terminal.print('');
  terminal.print(`    ${style.bold(code)}`);
  terminal.print('');
  terminal.print('or scan (or paste) this QR code there:');
  terminal.print(await renderQr(request.qrText, style.enabled));
  terminal.print(`QR text: ${request.qrText}`);
  terminal.print(`Waiting for the other device… (the code expires at ${formatTime(request.expiresAt)}; Ctrl+C cancels)`);
  let sas: string | undefined;
  try {
    sas = await terminal.untilInterrupt(request.sas);
  } catch (error) {
    report(options, error);
    await request.cancel().catch(() => undefined);
    return 'menu';
  }
  if (sas === undefined) {
    await request.cancel().catch(() => undefined);
    terminal.print('Linking cancelled.');
    return 'menu';
  }
  terminal.print(`Security code: ${style.bold(sas)}`);
  const same = await terminal.confirm('Does the other device show exactly the same security code?');
  if (!same) {
    await request.cancel().catch(() => undefined);
    terminal.print('Linking cancelled: nothing was transferred. If the codes differed, someone may have tried to intercept the link.');
    return 'menu';
  }
  terminal.print('Choose a password for your keys on this device.');
  const password = await askNewPassword(options, 'for this device');
  if (password === undefined) {
    await request.cancel().catch(() => undefined);
    terminal.print('Linking cancelled.');
    return 'menu';
  }
  try {
    const self = await request.accept(password);
    terminal.print(style.green(`This device is linked: you are ${oneLine(self.username)} <${oneLine(self.email)}>.`));
    return self;
  } catch (error) {
    report(options, error);
    return 'menu';
  }
}
