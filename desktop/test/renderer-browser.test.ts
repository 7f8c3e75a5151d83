/**
 * The renderer end to end in Debian's Chromium (playwright-core): two people, each with their own
 * web host (own home folder, own ClientBridge) and browser, against a real test server. Everything
 * goes through the UI: registering (code from the server's outbox), logging in, a direct
 * conversation both ways live (unread badge, read on opening), replies, deletion, a group with a
 * member added, removed, leaving and deletion, the composer's keys, failed sends with retry and
 * notices (through a tap on a third person's bridge WebSocket), dialogs' focus and Escape, long
 * histories (windowing, older pages, the "new messages" pill), the theme, plugin slots with error
 * boundaries, device linking, and the connection indicator. Screenshots of the main window in both
 * themes go to test-artifacts/desktop/.
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Locator, Page } from 'playwright-core';
import { Type } from 'typebox';
import { definePlugin } from '../../engine/plugin/index.js';
import { FAST_ENVELOPE, PASSWORD, readOutboxCode, startTestServer, tempHome, removeHomes, uniqueName, type TestServer } from '../../engine/testing/index.js';
import { startWebHost, type WebHost } from '../web-host/web-host.js';
import { ARTIFACTS_DIR, buildRenderer, chromiumExecutable, launchContext, removeFolder, uiPluginsModule, type LaunchedContext } from './renderer-harness.js';

/** A server plugin the test UI plugin belongs to: advertised in hello, with a public setting and a client method. */
const uitest = definePlugin({
  name: 'uitest',
  version: '1.0.0',
  apiVersion: 1,
  configSchema: Type.Object({ greeting: Type.String({ default: 'hello' }) }, { additionalProperties: false }),
  publicConfig: ['greeting'],
  client(api) {
    api.expose({
      ping: (text: string) => {
        api.emit('pong', { text });
        return `pong:${text}`;
      },
    });
  },
});

/**
 * The UI part of `uitest` (and of `ghost`, which the server does not have), as plain custom
 * elements: a footer badge showing the plugin's setting, an element that throws for messages
 * containing "boom", a composer button calling the client part, and a message action.
 */
const TEST_UI_PLUGINS = `
const extraPlugins = [
  {
    name: 'uitest',
    setup(api) {
      class Badge extends HTMLElement {
        set context(context) { this.textContent = 'uitest ' + context.config.greeting; this.dataset.testid = 'uitest-badge'; }
      }
      class Broken extends HTMLElement {
        set context(context) { throw new Error('uitest broke on purpose'); }
      }
      class Ping extends HTMLElement {
        set context(context) { this._context = context; }
        connectedCallback() {
          const button = document.createElement('button');
          button.type = 'button';
          button.textContent = 'P';
          button.setAttribute('aria-label', 'Ping plugin');
          button.addEventListener('click', () => this._context.call('ping', 'abc').then((answer) => this._context.toast('Plugin said ' + answer)));
          this.replaceChildren(button);
        }
      }
      api.define('uitest-badge', Badge);
      api.define('uitest-broken', Broken);
      class Pending extends HTMLElement {
        set context(context) { this.textContent = 'uitest pending item'; }
      }
      api.define('uitest-ping', Ping);
      api.define('uitest-pending', Pending);
      api.slot('message.footer', { id: 'badge', tag: 'uitest-badge', when: (c) => Boolean(c.message && c.message.text.startsWith('plugin')) });
      api.slot('message.footer', { id: 'broken', tag: 'uitest-broken', order: 200, when: (c) => Boolean(c.message && c.message.text.includes('boom')) });
      api.slot('composer', { id: 'ping', tag: 'uitest-ping' });
      // List-wide (no conversation): where pending items such as invitations go.
      api.slot('conversation.list-item', { id: 'pending', tag: 'uitest-pending', when: (c) => !c.conversation });
      api.messageAction({ id: 'shout', label: 'Shout it', run: (message, context) => context.toast('Shouted ' + message.text.toUpperCase()) });
      api.on('pong', (data) => { window.__uitestPong = data; });
    },
  },
  {
    name: 'ghost',
    setup(api) {
      window.__ghostSetup = true;
      class Ghost extends HTMLElement { connectedCallback() { this.textContent = 'GHOST'; } }
      api.define('ghost-thing', Ghost);
      api.slot('composer', { id: 'thing', tag: 'ghost-thing' });
    },
  },
];
`;

interface Person {
  /** "alice", "bob" */
  readonly name: string;
  readonly username: string;
  readonly email: string;
  readonly host: WebHost;
  readonly browser: LaunchedContext;
  readonly page: Page;
  /** Uncaught errors of the page (there must be none). */
  readonly errors: string[];
}

/** What a test lets through a person's bridge WebSocket (see tapBridge). */
interface BridgeTap {
  /** Answer this many sendMessage calls with a failure instead of passing them on. */
  failSends: number;
  /** Events not passed on to the page (as if the window had not heard of them yet). */
  readonly drop: Set<string>;
  /** How many loadOlder calls the page made. */
  loadOlderCalls: number;
  /** Hold loadOlder calls back (a slow server) until released. */
  holdLoadOlder: boolean;
  readonly held: Array<() => void>;
}

/** Routes the page's bridge WebSocket through the test (before the page opens it). */
async function tapBridge(page: Page, tap: BridgeTap): Promise<void> {
  const parse = (message: string | Buffer): { id?: number; method?: string; event?: string } => {
    try {
      return JSON.parse(String(message)) as { id?: number; method?: string; event?: string };
    } catch {
      return {};
    }
  };
  await page.routeWebSocket(/\/bridge\?token=/, (ws) => {
    const host = ws.connectToServer();
    ws.onMessage((message) => {
      const request = parse(message);
      if (request.method === 'sendMessage' && tap.failSends > 0) {
        tap.failSends--;
        ws.send(JSON.stringify({ id: request.id, ok: false, error: { code: 'request_timeout', message: 'The server did not answer in time' } }));
        return;
      }
      if (request.method === 'loadOlder') {
        tap.loadOlderCalls++;
        if (tap.holdLoadOlder) {
          tap.held.push(() => host.send(message));
          return;
        }
      }
      host.send(message);
    });
    host.onMessage((message) => {
      const event = parse(message).event;
      if (event !== undefined && tap.drop.has(event)) return;
      ws.send(message);
    });
  });
}

const chromiumFound = chromiumExecutable();

/** Before a screenshot: no hover, no focus ring, toasts gone, transitions over. */
async function settle(page: Page): Promise<void> {
  await page.mouse.move(760, 100);
  await page.evaluate(() => {
    let active = document.activeElement;
    while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
    (active as HTMLElement | null)?.blur();
    const toasts = document.querySelector('kecalek-app')?.shadowRoot?.querySelector('kecalek-toasts')?.shadowRoot;
    toasts?.querySelectorAll<HTMLButtonElement>('button[aria-label="Dismiss"]').forEach((button) => button.click());
  });
  await page.waitForTimeout(300);
}

async function visible(locator: Locator, timeout = 20_000): Promise<void> {
  await locator.first().waitFor({ state: 'visible', timeout });
}

describe('desktop renderer in Chromium', function () {
  this.timeout(180_000);

  let server: TestServer;
  let rendererDir: string;
  /** The server's data folder, kept across its restart. */
  let dataDir: string;
  const people: Person[] = [];
  let alice: Person;
  let bob: Person;

  before(async function () {
    if ('skip' in chromiumFound) {
      console.log(`    skipped: ${chromiumFound.skip}`);
      this.skip();
    }
    // Not emptied first: the other browser suites save their screenshots here too.
    await mkdir(ARTIFACTS_DIR, { recursive: true });
    rendererDir = await buildRenderer(uiPluginsModule([], TEST_UI_PLUGINS));
    dataDir = await mkdtemp(join(tmpdir(), 'kecalek-renderer-server-'));
    server = await startTestServer({ plugins: [uitest], settings: { uitest: { greeting: 'ahoj' } }, config: { dataDir } });
  });

  after(async () => {
    for (const person of people.splice(0)) {
      await person.browser.close();
      await person.host.close().catch(() => undefined);
    }
    await server?.close();
    await removeFolder(rendererDir);
    await removeFolder(dataDir);
    await removeHomes();
  });

  afterEach(async function () {
    if (this.currentTest?.state !== 'failed') return;
    const title = (this.currentTest.title.match(/[a-z0-9]+/giu) ?? []).slice(0, 6).join('-');
    for (const person of people) {
      await person.page.screenshot({ path: join(ARTIFACTS_DIR, `failed-${title}-${person.name}.png`) }).catch(() => undefined);
    }
  });

  async function open(name: string, colorScheme: 'light' | 'dark', tap?: BridgeTap): Promise<Person> {
    const username = uniqueName(name);
    const email = `${username.toLowerCase()}@example.test`;
    const host = await startWebHost({
      server: { host: server.host, port: server.port, transport: 'tls', ca: server.certificate, servername: 'localhost' },
      home: await tempHome(),
      rendererDir,
      plugins: [uitest],
      deviceName: `${name}'s browser`,
      client: { keyEnvelope: FAST_ENVELOPE, requestTimeoutMs: 20_000 },
    });
    if ('skip' in chromiumFound) throw new Error('unreachable');
    const browser = await launchContext(chromiumFound.path, { colorScheme });
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    if (tap) await tapBridge(page, tap);
    await page.goto(host.url);
    const person = { name, username, email, host, browser, page, errors };
    people.push(person);
    return person;
  }

  async function registerThroughUi(person: Person): Promise<void> {
    const { page } = person;
    await page.getByRole('tab', { name: 'Register' }).click();
    await page.getByLabel('Username').fill(person.username);
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Repeat password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await visible(page.getByRole('heading', { name: 'Check your email' }));
    const code = await readOutboxCode(server, person.email);
    await page.getByLabel('Confirmation code').fill(code);
    await page.getByRole('button', { name: 'Confirm' }).click();
    await visible(page.getByRole('heading', { name: 'Chats' }));
  }

  function conversationButton(page: Page, name: string): Locator {
    return page.getByRole('button', { name, exact: true });
  }

  function timeline(page: Page): Locator {
    return page.getByRole('log', { name: 'Messages' });
  }

  async function send(page: Page, text: string): Promise<void> {
    const box = page.getByRole('textbox', { name: 'Message' });
    await box.fill(text);
    await box.press('Enter');
  }

  /** Waits until the timeline is scrolled to its newest message. */
  async function atBottom(page: Page): Promise<void> {
    await page.waitForFunction(
      () => {
        const root = document.querySelector('kecalek-app')?.shadowRoot?.querySelector('kecalek-main')?.shadowRoot;
        const scroller = root?.querySelector('kecalek-chat')?.shadowRoot?.querySelector('kecalek-timeline')?.shadowRoot?.querySelector('.timeline');
        return scroller !== undefined && scroller !== null && scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
      },
      undefined,
      { timeout: 10_000 },
    );
  }

  /** Waits until the element has the keyboard focus. */
  async function focused(locator: Locator): Promise<void> {
    for (let i = 0; i < 50; i++) {
      if (await locator.evaluate((element) => element.matches(':focus')).catch(() => false)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`not focused: ${locator.toString()}`);
  }

  async function messageActions(page: Page, text: string): Promise<Locator> {
    const message = page.locator('kecalek-message').filter({ hasText: text }).last();
    // An own message still being sent has fewer actions: wait for it, so the menu does not change under the pointer.
    await message.getByRole('img', { name: 'Sending' }).waitFor({ state: 'detached' });
    await message.hover();
    await message.getByRole('button', { name: 'Message actions' }).click();
    const menu = page.getByRole('menu', { name: 'Message actions' });
    await visible(menu);
    return menu;
  }

  it('shows the sign-in window with its three tabs and the server address', async () => {
    alice = await open('alice', 'dark');
    const { page } = alice;
    for (const tab of ['Log in', 'Register', 'Link this device']) await visible(page.getByRole('tab', { name: tab }));
    expect(await page.getByRole('tab', { name: 'Log in' }).getAttribute('aria-selected')).to.equal('true');
    await visible(page.getByText(`${server.host}:${server.port}`));
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'sign-in-dark.png') });
  });

  it('registers through the UI with the mailed code', async () => {
    await registerThroughUi(alice);
    await visible(alice.page.getByRole('status', { name: 'Connection: Connected' }));
    bob = await open('bob', 'light');
    await registerThroughUi(bob);
  });

  it('signs out and logs in again with the account listed on this computer', async () => {
    const { page } = bob;
    await page.getByRole('button', { name: 'Settings' }).click();
    const settings = page.getByRole('dialog', { name: 'Settings' });
    await visible(settings);
    await settings.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('dialog', { name: 'Sign out?' }).getByRole('button', { name: 'Sign out' }).click();
    await visible(page.getByRole('tab', { name: 'Log in' }));
    await page.getByRole('button', { name: `Use ${bob.username} (${bob.email})` }).click();
    expect(await page.getByLabel('Email').inputValue()).to.equal(bob.email);
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await visible(page.getByRole('alert').filter({ hasText: /password/i }));
    await page.getByLabel('Password').fill(PASSWORD);
    // The wrong password locks out briefly (exponential backoff): retry until it is accepted.
    for (let attempt = 0; attempt < 10; attempt++) {
      await page.getByRole('button', { name: 'Log in' }).click();
      const done = await page
        .getByRole('heading', { name: 'Chats' })
        .waitFor({ state: 'visible', timeout: 2500 })
        .then(() => true, () => false);
      if (done) break;
    }
    await visible(page.getByRole('heading', { name: 'Chats' }));
  });

  it('opens a direct conversation and exchanges messages live both ways', async () => {
    const a = alice.page;
    const b = bob.page;
    await a.getByRole('button', { name: 'New message' }).click();
    const dialog = a.getByRole('dialog', { name: 'New message' });
    await dialog.getByLabel('Email address').fill(bob.email);
    await dialog.getByRole('button', { name: 'Start chat' }).click();
    await visible(a.getByRole('heading', { name: bob.username, level: 2 }));
    await send(a, 'Hello Bob! 👋');
    await visible(timeline(a).getByText('Hello Bob! 👋'));
    // The optimistic copy becomes the confirmed one (a single bubble).
    await visible(timeline(a).getByRole('img', { name: 'Sent' }));
    expect(await timeline(a).getByText('Hello Bob! 👋').count()).to.equal(1);

    // Bob: the conversation appears with an unread badge and the preview.
    const item = conversationButton(b, alice.username);
    await visible(item);
    await visible(b.getByText('Hello Bob! 👋'));
    await visible(b.getByText(', 1 unread'));
    await visible(item.getByText(/\d{1,2}:\d{2}/));
    await item.click();
    await visible(timeline(b).getByText('Hello Bob! 👋'));
    // Open and visible: the badge goes, and the server counts it read.
    await b.getByText(', 1 unread').waitFor({ state: 'detached' });
    expect(await item.locator('.badge').count()).to.equal(0);
    await send(b, 'Hi Alice, good to see you here');
    await visible(timeline(a).getByText('Hi Alice, good to see you here'));
    await send(a, 'Shall we meet on Friday?\nAt the usual place.');
    await visible(timeline(b).getByText('At the usual place.', { exact: false }));
    // Online dots: each sees the other online.
    await visible(a.getByRole('img', { name: 'online' }));
  });

  it('replies to a message and jumps to the original from the quote', async () => {
    const a = alice.page;
    const menu = await messageActions(a, 'Hi Alice, good to see you here');
    await menu.getByRole('menuitem', { name: 'Reply' }).click();
    await visible(a.getByText(`Replying to ${bob.username}`));
    await send(a, 'Friday works for me');
    const quote = timeline(bob.page).getByRole('button', { name: /Reply to .*good to see you here/ });
    await visible(quote);
    await visible(timeline(bob.page).getByText('Friday works for me'));
    await quote.click();
    await bob.page.waitForSelector('kecalek-message[highlighted]', { timeout: 10_000 });
  });

  it('deletes an own message for everyone', async () => {
    const a = alice.page;
    await send(a, 'This one was a mistake');
    await visible(timeline(bob.page).getByText('This one was a mistake'));
    const menu = await messageActions(a, 'This one was a mistake');
    await menu.getByRole('menuitem', { name: 'Delete for everyone' }).click();
    await a.getByRole('dialog', { name: 'Delete this message?' }).getByRole('button', { name: 'Delete' }).click();
    await visible(timeline(a).getByText('This message was deleted'));
    await visible(timeline(bob.page).getByText('This message was deleted'));
    expect(await timeline(bob.page).getByText('This one was a mistake').count()).to.equal(0);
  });

  it('renders plugin slot items in error boundaries, runs plugin actions, and keeps out plugins the server lacks', async () => {
    const a = alice.page;
    await send(a, 'plugin badge here');
    await visible(timeline(a).getByText('uitest ahoj'));
    await visible(timeline(bob.page).getByText('uitest ahoj'));
    await send(a, 'this will boom');
    await visible(timeline(a).getByText('uitest plugin failed'));
    // The rest of the window carries on: the next message renders normally.
    await send(a, 'still fine after that');
    await visible(timeline(a).getByText('still fine after that'));

    const menu = await messageActions(a, 'still fine after that');
    await menu.getByRole('menuitem', { name: 'Shout it' }).click();
    await visible(a.getByRole('status').filter({ hasText: 'Shouted STILL FINE AFTER THAT' }));

    await a.getByRole('button', { name: 'Ping plugin' }).click();
    await visible(a.getByRole('status').filter({ hasText: 'Plugin said pong:abc' }));
    expect(await a.evaluate(() => (window as unknown as { __uitestPong?: unknown }).__uitestPong)).to.deep.equal({ text: 'abc' });

    expect(await a.evaluate(() => (window as unknown as { __ghostSetup?: boolean }).__ghostSetup ?? false)).to.equal(false);
    expect(await a.getByText('GHOST').count()).to.equal(0);

    // The list-wide `conversation.list-item` location (pending invitations) above the conversations.
    await visible(a.getByRole('region', { name: 'Pending' }).getByText('uitest pending item'));
    expect(await a.getByText('uitest pending item').count()).to.equal(1);
  });

  it('creates a group, adds a member, renames it, and the member sees it live', async () => {
    const a = alice.page;
    const b = bob.page;
    await a.getByRole('button', { name: 'New group' }).click();
    const dialog = a.getByRole('dialog', { name: 'New group' });
    await dialog.getByLabel('Group name').fill('Weekend trip');
    await dialog.getByRole('button', { name: 'Create group' }).click();
    await visible(a.getByRole('heading', { name: 'Weekend trip', level: 2 }));

    await a.getByRole('button', { name: 'Group info' }).click();
    const info = a.getByRole('dialog', { name: 'Group info' });
    await info.getByLabel('Email address to add').fill(bob.email);
    await info.getByRole('button', { name: 'Add' }).click();
    await visible(info.getByText(`${bob.email} was added.`));
    await visible(info.getByRole('list', { name: 'Members' }).getByText(bob.username));
    await visible(info.getByText('Creator'));

    await visible(conversationButton(b, 'Weekend trip'));
    await info.getByRole('button', { name: 'Rename' }).click();
    await info.getByLabel('Group name').fill('Mountain weekend');
    await info.getByRole('button', { name: 'Save' }).click();
    await visible(info.getByRole('heading', { name: 'Mountain weekend' }));
    await info.getByRole('button', { name: 'Close' }).click();
    await visible(a.getByRole('heading', { name: 'Mountain weekend', level: 2 }));
    await visible(conversationButton(b, 'Mountain weekend'));

    await send(a, 'Who brings the tent?');
    await conversationButton(b, 'Mountain weekend').click();
    await visible(timeline(b).getByText('Who brings the tent?'));
    await send(b, 'I have one for three people ⛺');
    await visible(timeline(a).getByText('I have one for three people ⛺'));
    await visible(a.getByText('2 members, 1 online'));
    // Alice has the group open: what arrives is marked read on the server.
    const unread = async (): Promise<number> => {
      const list = await alice.host.bridge.call('listConversations', { refresh: true });
      return list.find((c) => c.name === 'Mountain weekend')?.unreadCount ?? -1;
    };
    for (let i = 0; i < 50 && (await unread()) !== 0; i++) await a.waitForTimeout(100);
    expect(await unread()).to.equal(0);
  });

  it('writes multi-line messages with Shift+Enter; own bubbles right, sender names in groups, day separators', async () => {
    const a = alice.page;
    const b = bob.page;
    const box = a.getByRole('textbox', { name: 'Message' });
    await box.click();
    await a.keyboard.type('First line');
    await a.keyboard.press('Shift+Enter');
    await a.keyboard.type('second line');
    expect(await box.inputValue()).to.equal('First line\nsecond line');
    await a.keyboard.press('Enter');
    expect(await box.inputValue()).to.equal('');
    await visible(timeline(b).getByText('First line second line', { exact: true }));
    expect(await timeline(b).getByText('First line second line', { exact: true }).evaluate((el) => el.textContent)).to.equal('First line\nsecond line');

    const log = timeline(a);
    const own = await log.getByRole('article', { name: /^You,/ }).last().boundingBox();
    const other = await log.getByRole('article', { name: new RegExp(`^${bob.username},`) }).last().boundingBox();
    if (!own || !other) throw new Error('no layout');
    expect(own.x + own.width).to.be.greaterThan(other.x + other.width + 100);
    expect(own.x).to.be.greaterThan(other.x);
    // In a group, others' runs carry the sender's name; the day has its separator.
    await visible(log.getByText(bob.username, { exact: true }));
    await visible(log.getByRole('separator', { name: 'Today' }));
    // The header: name, members and who is online, the actions.
    await visible(a.getByRole('heading', { name: 'Mountain weekend', level: 2 }));
    await visible(a.getByText('2 members, 1 online'));
    await visible(a.getByRole('button', { name: 'Group info' }));
    await visible(a.getByRole('button', { name: 'Delete conversation' }));
    expect(await b.getByRole('button', { name: 'Delete conversation' }).count()).to.equal(0);
  });

  it('group info: a failed add is a notice; removing a member, leaving, deleting the group', async () => {
    const a = alice.page;
    const b = bob.page;
    await a.getByRole('button', { name: 'New group' }).click();
    const dialog = a.getByRole('dialog', { name: 'New group' });
    await dialog.getByLabel('Group name').fill('Book club');
    await dialog.getByLabel('Members').fill(bob.email);
    await dialog.getByRole('button', { name: 'Create group' }).click();
    await visible(a.getByRole('heading', { name: 'Book club', level: 2 }));
    await visible(conversationButton(b, 'Book club'));

    await a.getByRole('button', { name: 'Group info' }).click();
    const info = a.getByRole('dialog', { name: 'Group info' });
    await visible(info.getByRole('list', { name: 'Members' }).getByText(bob.username));
    await info.getByLabel('Email address to add').fill(bob.email);
    await info.getByRole('button', { name: 'Add' }).click();
    await visible(a.getByRole('alert').filter({ hasText: `Could not add ${bob.email}` }));

    await info.getByRole('button', { name: `Remove ${bob.username}` }).click();
    await a.getByRole('dialog', { name: `Remove ${bob.username}?` }).getByRole('button', { name: 'Remove' }).click();
    await visible(info.getByText(`${bob.username} was removed.`));
    await visible(b.getByRole('status').filter({ hasText: 'You were removed from Book club.' }));
    await conversationButton(b, 'Book club').waitFor({ state: 'detached' });

    // Back in, and Bob leaves by himself (a member may leave, not delete).
    await info.getByLabel('Email address to add').fill(bob.email);
    await info.getByRole('button', { name: 'Add' }).click();
    await visible(info.getByText(`${bob.email} was added.`));
    await conversationButton(b, 'Book club').click();
    await b.getByRole('button', { name: 'Group info' }).click();
    const bobInfo = b.getByRole('dialog', { name: 'Group info' });
    await visible(bobInfo.getByRole('button', { name: 'Leave group' }));
    expect(await bobInfo.getByRole('button', { name: 'Delete group' }).count()).to.equal(0);
    expect(await bobInfo.getByRole('button', { name: 'Rename' }).count()).to.equal(0);
    await bobInfo.getByRole('button', { name: 'Leave group' }).click();
    await b.getByRole('dialog', { name: 'Leave Book club?' }).getByRole('button', { name: 'Leave group' }).click();
    await bobInfo.waitFor({ state: 'detached' });
    await conversationButton(b, 'Book club').waitFor({ state: 'detached' });
    await visible(info.getByText('1 member', { exact: true }));

    // The creator deletes it: gone for both, with a notice for the member.
    await info.getByLabel('Email address to add').fill(bob.email);
    await info.getByRole('button', { name: 'Add' }).click();
    await visible(conversationButton(b, 'Book club'));
    await info.getByRole('button', { name: 'Delete group' }).click();
    await a.getByRole('dialog', { name: 'Delete Book club?' }).getByRole('button', { name: 'Delete group' }).click();
    await info.waitFor({ state: 'detached' });
    await conversationButton(a, 'Book club').waitFor({ state: 'detached' });
    await visible(b.getByRole('status').filter({ hasText: 'Book club was deleted.' }));
    await conversationButton(b, 'Book club').waitFor({ state: 'detached' });
  });

  it('marks a failed send as failed with a retry, and tells about a message to a conversation deleted meanwhile', async () => {
    const tap: BridgeTap = { failSends: 0, drop: new Set(), loadOlderCalls: 0, holdLoadOlder: true, held: [] };
    const carol = await open('carol', 'light', tap);
    await registerThroughUi(carol);
    const c = carol.page;
    await c.getByRole('button', { name: 'New message' }).click();
    const dialog = c.getByRole('dialog', { name: 'New message' });
    await dialog.getByLabel('Email address').fill(alice.email);
    await dialog.getByRole('button', { name: 'Start chat' }).click();
    await visible(c.getByRole('heading', { name: alice.username, level: 2 }));
    const log = timeline(c);

    // Too little history to scroll: the timeline asks the server for older messages at once, with
    // a small indicator while it waits, and stops asking once the server says there are none.
    await visible(log.getByRole('status', { name: 'Loading older messages' }));
    tap.holdLoadOlder = false;
    for (const release of tap.held.splice(0)) release();
    await log.getByRole('status', { name: 'Loading older messages' }).waitFor({ state: 'detached' });
    await visible(log.getByText(/Messages here are end-to-end encrypted/));
    const asked = tap.loadOlderCalls;
    for (let i = 0; i < 3; i++) {
      await log.evaluate((element) => element.scrollTo({ top: 0 }));
      await c.waitForTimeout(100);
    }
    expect(tap.loadOlderCalls).to.equal(asked);

    tap.failSends = 1;
    await send(c, 'Is this thing on?');
    await visible(log.getByText('Not sent'));
    await visible(log.getByRole('img', { name: 'Not sent' }));
    await visible(c.getByRole('alert').filter({ hasText: 'Your message was not sent: The server did not answer in time' }));
    await log.getByRole('button', { name: 'Retry', exact: true }).click();
    await visible(log.getByRole('img', { name: 'Sent' }));
    expect(await log.getByText('Not sent').count()).to.equal(0);
    expect(await log.getByText('Is this thing on?', { exact: true }).count()).to.equal(1);
    await visible(conversationButton(alice.page, carol.username));

    // Alice deletes a group before Carol's window hears of it: Carol's message there fails, with a notice.
    await alice.page.getByRole('button', { name: 'New group' }).click();
    const newGroup = alice.page.getByRole('dialog', { name: 'New group' });
    await newGroup.getByLabel('Group name').fill('Pop-up');
    await newGroup.getByLabel('Members').fill(carol.email);
    await newGroup.getByRole('button', { name: 'Create group' }).click();
    await conversationButton(c, 'Pop-up').click();
    await visible(c.getByRole('heading', { name: 'Pop-up', level: 2 }));
    tap.drop.add('conversation_removed');
    await alice.page.getByRole('button', { name: 'Delete conversation' }).click();
    await alice.page.getByRole('dialog', { name: 'Delete Pop-up?' }).getByRole('button', { name: 'Delete group' }).click();
    for (let i = 0; i < 100; i++) {
      const list = await carol.host.bridge.call('listConversations', {});
      if (!list.some((x) => x.name === 'Pop-up')) break;
      await c.waitForTimeout(100);
    }
    await send(c, 'Anyone here?');
    await visible(log.getByText('Not sent'));
    await visible(c.getByRole('alert').filter({ hasText: 'Your message was not sent' }));
    tap.drop.clear();
    expect(carol.errors).to.deep.equal([]);
  });

  it('filters conversations with Ctrl+K and closes dialogs with Escape', async () => {
    const a = alice.page;
    const opener = a.getByRole('button', { name: 'New message' });
    await opener.click();
    const dialog = a.getByRole('dialog', { name: 'New message' });
    await visible(dialog);
    // The dialog takes the focus (its first field) and gives it back when it goes.
    await focused(dialog.getByLabel('Email address'));
    await a.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await focused(opener);

    // A confirmation closes with Escape and does nothing; so does a message's menu.
    await conversationButton(a, bob.username).click();
    const menu = await messageActions(a, 'still fine after that');
    await focused(menu.getByRole('menuitem').first());
    await a.keyboard.press('Escape');
    await menu.waitFor({ state: 'detached' });
    const ownMessage = await messageActions(a, 'Friday works for me');
    await ownMessage.getByRole('menuitem', { name: 'Delete for everyone' }).click();
    const confirm = a.getByRole('dialog', { name: 'Delete this message?' });
    await visible(confirm);
    await focused(confirm.getByRole('button', { name: 'Delete' }));
    await a.keyboard.press('Escape');
    await confirm.waitFor({ state: 'detached' });
    await visible(timeline(a).getByText('Friday works for me', { exact: true }));

    await a.keyboard.press('Control+k');
    const search = a.getByRole('searchbox', { name: 'Search conversations' });
    expect(await search.evaluate((el) => el.matches(':focus'))).to.equal(true);
    await a.keyboard.type('mountain');
    await visible(conversationButton(a, 'Mountain weekend'));
    expect(await conversationButton(a, bob.username).count()).to.equal(0);
    await search.press('Escape');
    await visible(conversationButton(a, bob.username));
  });

  it('switches the theme (saved in settings) and takes screenshots of both themes', async () => {
    const a = alice.page;
    await conversationButton(a, bob.username).click();
    await visible(timeline(a).getByText('still fine after that'));
    await a.getByRole('button', { name: 'Settings' }).click();
    const settings = a.getByRole('dialog', { name: 'Settings' });
    await visible(settings.getByText("alice's browser"));
    await visible(settings.getByText('This device'));
    await settings.getByRole('radio', { name: 'Light' }).check();
    await a.waitForFunction(() => document.documentElement.dataset.theme === 'light');
    await settings.screenshot({ path: join(ARTIFACTS_DIR, 'settings-light.png') });
    await a.keyboard.press('Escape');
    await settings.waitFor({ state: 'detached' });
    await settle(a);
    await a.screenshot({ path: join(ARTIFACTS_DIR, 'main-light.png') });

    await a.getByRole('button', { name: 'Settings' }).click();
    await a.getByRole('dialog', { name: 'Settings' }).getByRole('radio', { name: 'Dark' }).check();
    await a.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
    await a.keyboard.press('Escape');
    await settle(a);
    await a.screenshot({ path: join(ARTIFACTS_DIR, 'main-dark.png') });

    // The choice is stored by the bridge: a reload keeps it.
    await a.reload();
    await visible(a.getByRole('heading', { name: 'Chats' }));
    expect(await a.evaluate(() => document.documentElement.dataset.theme)).to.equal('dark');

    // "System" follows the system's colour scheme, also when it changes while the app is open.
    await a.emulateMedia({ colorScheme: 'light' });
    await a.getByRole('button', { name: 'Settings' }).click();
    await a.getByRole('dialog', { name: 'Settings' }).getByRole('radio', { name: 'System' }).check();
    await a.waitForFunction(() => document.documentElement.dataset.theme === 'light');
    await a.emulateMedia({ colorScheme: 'dark' });
    await a.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
    await a.getByRole('dialog', { name: 'Settings' }).getByRole('radio', { name: 'Dark' }).check();
    await a.keyboard.press('Escape');

    await conversationButton(bob.page, 'Mountain weekend').click();
    await settle(bob.page);
    await bob.page.screenshot({ path: join(ARTIFACTS_DIR, 'group-light.png') });
  });

  it('renders older history when scrolled up and offers a pill for new messages while scrolled up', async () => {
    const a = alice.page;
    await conversationButton(a, bob.username).click();
    const log = timeline(a);
    await visible(log.getByText('still fine after that'));
    const dm = (await bob.host.bridge.call('listConversations', {})).find((c) => c.kind === 'dm');
    if (!dm) throw new Error('bob has no direct conversation');
    for (let i = 0; i < 130; i++) await bob.host.bridge.call('sendMessage', { conversationId: dm.id, text: `Message number ${i}` });
    await visible(log.getByText('Message number 129', { exact: true }));
    // Only the newest messages render at first; scrolling up brings the rest, then the beginning.
    expect(await log.getByText('Message number 0', { exact: true }).count()).to.equal(0);
    // At the top, more renders above the first message, which stays where it was.
    const first = log.locator('kecalek-message').first();
    const firstKey = await first.getAttribute('data-key');
    await log.evaluate((element) => element.scrollTo({ top: 0 }));
    await visible(log.getByText('Message number 0', { exact: true }));
    const logBox = await log.boundingBox();
    const keptBox = await log.locator(`kecalek-message[data-key="${firstKey}"]`).boundingBox();
    if (!logBox || !keptBox) throw new Error('no layout');
    expect(keptBox.y - logBox.y).to.be.within(-10, 200);
    for (let i = 0; i < 20 && (await log.getByText('Hello Bob! 👋').count()) === 0; i++) {
      await log.evaluate((element) => element.scrollTo({ top: 0 }));
      await a.waitForTimeout(150);
    }
    await visible(log.getByText('Message number 0', { exact: true }));
    await visible(log.getByText('Hello Bob! 👋'));
    await visible(log.getByText(/Messages here are end-to-end encrypted/));

    await bob.host.bridge.call('sendMessage', { conversationId: dm.id, text: 'Are you still there?' });
    const pill = a.getByRole('button', { name: /1 new message/ });
    await visible(pill);
    await pill.click();
    await atBottom(a);
    await visible(log.getByText('Are you still there?'));
    await pill.waitFor({ state: 'detached' });

    // Scrolled up, an own message brings the view down to it.
    await log.evaluate((element) => element.scrollTo({ top: 0 }));
    await visible(a.getByRole('button', { name: 'Show the latest messages' }));
    await send(a, 'Yes, still here');
    await atBottom(a);
    await visible(log.getByText('Yes, still here', { exact: true }));
  });

  it('links a second device: code and QR, the SAS on both sides, a password', async () => {
    const a = alice.page;
    const second = await open('alice2', 'light');
    const n = second.page;
    await n.getByRole('tab', { name: 'Link this device' }).click();
    await n.getByRole('button', { name: 'Show linking code' }).click();
    const qr = n.getByRole('img', { name: 'QR code with the linking code' });
    await visible(qr);
    expect(await qr.getAttribute('src')).to.match(/^data:image\/svg\+xml/);
    const code = ((await n.getByLabel(/^Linking code/).textContent()) ?? '').replace(/\D/g, '');
    expect(code).to.have.length(8);
    await n.screenshot({ path: join(ARTIFACTS_DIR, 'link-device-light.png') });

    await a.getByRole('button', { name: 'Settings' }).click();
    const settings = a.getByRole('dialog', { name: 'Settings' });
    try {
      await settings.getByLabel('Linking code from the new device').fill(code);
      await settings.getByRole('button', { name: 'Link' }).click();
      const oldSas = await settings.getByLabel(/^Security code/).getAttribute('aria-label');
      const newSas = await n.getByLabel(/^Security code/).getAttribute('aria-label');
      expect(newSas).to.equal(oldSas);
      await settings.getByRole('button', { name: 'They match' }).click();
      await visible(settings.getByText('The new device is linked'));
      await n.getByRole('button', { name: 'They match' }).click();
      await n.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await n.getByLabel('Repeat password').fill(PASSWORD);
      await n.getByRole('button', { name: 'Link this device' }).click();
      await visible(n.getByRole('heading', { name: 'Chats' }), 60_000);
      await visible(conversationButton(n, 'Mountain weekend'));
      // The first device lists it, and may not remove itself.
      await visible(settings.getByText("alice2's browser"));
      expect(await settings.getByRole('button', { name: "Remove alice's browser" }).count()).to.equal(0);
      await settings.getByRole('button', { name: "Remove alice2's browser" }).click();
      await a.getByRole('dialog', { name: "Remove alice2's browser?" }).getByRole('button', { name: 'Remove device' }).click();
      await visible(settings.getByText("alice2's browser was removed."));
      try {
        await visible(n.getByRole('tab', { name: 'Log in' }), 60_000);
      } catch (error) {
        await n.screenshot({ path: join(ARTIFACTS_DIR, 'removed-device-failure.png') }).catch(() => undefined);
        throw error;
      }
    } finally {
      // Whatever happened above, the next test starts without the settings dialog in the way.
      await a.keyboard.press('Escape');
    }
  });

  it('shows the connection going away and coming back', async () => {
    const a = alice.page;
    const b = bob.page;
    await visible(a.getByRole('status', { name: 'Connection: Connected' }));
    const { port, wsPort } = server;
    await server.close();
    await visible(a.getByRole('status', { name: /Connection: (Reconnecting|Connecting|Offline)/ }));
    await visible(b.getByRole('status', { name: /Connection: (Reconnecting|Connecting|Offline)/ }));
    await visible(b.getByText(/Messages you write are sent when the connection is back/));
    await b.screenshot({ path: join(ARTIFACTS_DIR, 'reconnecting-light.png') });

    // Written while offline: shown at once as pending, sent once the server is back.
    await send(b, 'Sent while the server was away');
    await visible(timeline(b).getByRole('img', { name: 'Sending' }));

    server = await startTestServer({ plugins: [uitest], settings: { uitest: { greeting: 'ahoj' } }, config: { dataDir, port, wsPort } });
    await visible(a.getByRole('status', { name: 'Connection: Connected' }), 60_000);
    await visible(b.getByRole('status', { name: 'Connection: Connected' }), 60_000);
    await visible(a.getByText('Sent while the server was away'), 60_000);
    await conversationButton(a, 'Mountain weekend').click();
    await visible(timeline(a).getByText('Sent while the server was away'));
    expect(alice.errors).to.deep.equal([]);
    expect(bob.errors).to.deep.equal([]);
  });
});
