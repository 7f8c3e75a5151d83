/**
 * The feature plugins' desktop UI end to end in Debian's Chromium (playwright-core): two people,
 * each with their own web host and browser, against a real test server with the default plugins
 * (reactions, pins, mentions, invitations) and the third-party example polls. Everything the
 * people do goes through the UI: registering, a direct conversation both ways, reacting (the other
 * side sees the badge live, with counts, your own highlighted), pinning (marker and pinned list on
 * both sides), mentioning with `@` autocomplete (highlighted for the one mentioned), a group
 * invitation accepted from the conversation list, a poll, and the theme; screenshots of the main
 * window in both themes go to test-artifacts/desktop/. A second server without reactions shows
 * that its UI disappears while the rest works.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Locator, Page } from 'playwright-core';
import type { AnyPluginDefinition } from '../../engine/plugin/define.js';
import { FAST_ENVELOPE, PASSWORD, readOutboxCode, removeHomes, startTestServer, tempHome, uniqueName, type TestServer } from '../../engine/testing/index.js';
import polls from '../../examples/kecalek-plugin-polls/index.js';
import { builtinClientPlugins } from '../../engine/client/plugin-loader.js';
import { startWebHost, type WebHost } from '../web-host/web-host.js';
import { ARTIFACTS_DIR, buildRenderer, chromiumExecutable, launchContext, removeFolder, settlePage, type LaunchedContext } from './renderer-harness.js';

interface Person {
  readonly name: string;
  readonly username: string;
  readonly email: string;
  readonly host: WebHost;
  readonly browser: LaunchedContext;
  readonly page: Page;
  /** Uncaught errors of the page (there must be none). */
  readonly errors: string[];
}

const chromiumFound = chromiumExecutable();
const DEFAULT_PLUGINS = ['reactions', 'pins', 'mentions', 'invitations'];

async function visible(locator: Locator, timeout = 30_000): Promise<void> {
  await locator.first().waitFor({ state: 'visible', timeout });
}

function timeline(page: Page): Locator {
  return page.getByRole('log', { name: 'Messages' });
}

function messageBubble(page: Page, text: string): Locator {
  return timeline(page).locator('kecalek-message').filter({ hasText: text }).last();
}

function conversationButton(page: Page, name: string): Locator {
  return page.getByRole('button', { name, exact: true });
}

async function send(page: Page, text: string): Promise<void> {
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
}

async function messageActions(page: Page, text: string): Promise<Locator> {
  const message = messageBubble(page, text);
  await message.hover();
  await message.getByRole('button', { name: 'Message actions' }).click();
  const menu = page.getByRole('menu', { name: 'Message actions' });
  await visible(menu);
  return menu;
}

/** Two people, each with a web host and a browser, against one server. */
class Scene {
  readonly people: Person[] = [];

  constructor(
    private readonly server: () => TestServer,
    private readonly rendererDir: () => string,
    private readonly plugins: readonly AnyPluginDefinition[],
  ) {}

  async open(name: string, colorScheme: 'light' | 'dark'): Promise<Person> {
    if ('skip' in chromiumFound) throw new Error('unreachable');
    const server = this.server();
    const username = uniqueName(name);
    const email = `${username.toLowerCase()}@example.test`;
    const host = await startWebHost({
      server: { host: server.host, port: server.port, transport: 'tls', ca: server.certificate, servername: 'localhost' },
      home: await tempHome(),
      rendererDir: this.rendererDir(),
      plugins: this.plugins,
      deviceName: `${name}'s browser`,
      client: { keyEnvelope: FAST_ENVELOPE, requestTimeoutMs: 30_000 },
    });
    const browser = await launchContext(chromiumFound.path, { colorScheme });
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(host.url);
    const person = { name, username, email, host, browser, page, errors };
    this.people.push(person);
    return person;
  }

  async registerThroughUi(person: Person): Promise<void> {
    const { page } = person;
    await page.getByRole('tab', { name: 'Register' }).click();
    await page.getByLabel('Username').fill(person.username);
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Repeat password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await visible(page.getByRole('heading', { name: 'Check your email' }));
    await page.getByLabel('Confirmation code').fill(await readOutboxCode(this.server(), person.email));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await visible(page.getByRole('heading', { name: 'Chats' }));
  }

  /** Registers through the bridge (the UI of registering is covered above); the page follows. */
  async registerThroughBridge(person: Person): Promise<void> {
    await person.host.bridge.call('register', { username: person.username, email: person.email, password: PASSWORD });
    await person.host.bridge.call('confirmRegistration', { code: await readOutboxCode(this.server(), person.email) });
    await visible(person.page.getByRole('heading', { name: 'Chats' }));
  }

  /** `from` starts a direct conversation with `to` and both have it open. */
  async directConversation(from: Person, to: Person, firstText: string): Promise<void> {
    const a = from.page;
    await a.getByRole('button', { name: 'New message' }).click();
    const dialog = a.getByRole('dialog', { name: 'New message' });
    await dialog.getByLabel('Email address').fill(to.email);
    await dialog.getByRole('button', { name: 'Start chat' }).click();
    await visible(a.getByRole('heading', { name: to.username, level: 2 }));
    await send(a, firstText);
    await visible(timeline(a).getByText(firstText));
    const item = conversationButton(to.page, from.username);
    await visible(item);
    await item.click();
    await visible(timeline(to.page).getByText(firstText));
  }

  async screenshotFailures(title: string): Promise<void> {
    const name = (title.match(/[a-z0-9]+/giu) ?? []).slice(0, 6).join('-');
    for (const person of this.people) {
      await person.page.screenshot({ path: join(ARTIFACTS_DIR, `failed-plugins-${name}-${person.name}.png`) }).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    for (const person of this.people.splice(0)) {
      await person.browser.close();
      await person.host.close().catch(() => undefined);
    }
  }
}

describe('desktop plugin UIs in Chromium', function () {
  this.timeout(240_000);

  let rendererDir: string;
  let clientPlugins: AnyPluginDefinition[];

  before(async function () {
    if ('skip' in chromiumFound) {
      console.log(`    skipped: ${chromiumFound.skip}`);
      this.skip();
    }
    await mkdir(ARTIFACTS_DIR, { recursive: true });
    // The renderer with the UI part of every plugins/<name>/ui.ts and examples/<name>/ui.ts, as the desktop build makes it.
    rendererDir = await buildRenderer();
    clientPlugins = [...(await builtinClientPlugins((line) => console.error(line))), polls as AnyPluginDefinition];
  });

  after(async () => {
    await removeFolder(rendererDir);
    await removeHomes();
  });

  describe('with the default plugins and polls', () => {
    let server: TestServer;
    let scene: Scene;
    let alice: Person;
    let bob: Person;

    before(async () => {
      server = await startTestServer({ plugins: [...DEFAULT_PLUGINS, polls as AnyPluginDefinition] });
      scene = new Scene(() => server, () => rendererDir, clientPlugins);
    });

    after(async () => {
      await scene?.close();
      await server?.close();
    });

    afterEach(async function () {
      if (this.currentTest?.state === 'failed') await scene.screenshotFailures(this.currentTest.title);
    });

    it('registers both people through the UI and exchanges messages live both ways', async () => {
      alice = await scene.open('alice', 'dark');
      await scene.registerThroughUi(alice);
      bob = await scene.open('bob', 'light');
      await scene.registerThroughUi(bob);
      await scene.directConversation(alice, bob, 'Lunch at noon tomorrow?');
      await send(bob.page, 'Sounds good, the usual place');
      await visible(timeline(alice.page).getByText('Sounds good, the usual place'));
      await send(alice.page, 'Great, see you there');
      await visible(timeline(bob.page).getByText('Great, see you there'));
    });

    it('reacts from the message menu: the other side sees the badge live, counts add up, your own is highlighted', async () => {
      const a = alice.page;
      const b = bob.page;
      const menu = await messageActions(a, 'Sounds good, the usual place');
      // The picker offers the server's allowed reactions.
      for (const name of ['thumbsup', 'heart', 'laugh', 'surprised', 'sad', 'thumbsdown']) await visible(menu.getByRole('button', { name: `React with ${name}` }));
      await menu.getByRole('button', { name: 'React with heart' }).click();

      const aliceBadge = messageBubble(a, 'Sounds good, the usual place').getByRole('button', { name: /^heart: / });
      await visible(aliceBadge);
      expect(await aliceBadge.getAttribute('aria-label')).to.equal('heart: 1 reaction, including yours');
      expect(await aliceBadge.getAttribute('aria-pressed')).to.equal('true');
      expect(await aliceBadge.evaluate((el) => el.classList.contains('mine'))).to.equal(true);

      // Bob sees it live, not as his own.
      const bobBadge = messageBubble(b, 'Sounds good, the usual place').getByRole('button', { name: /^heart: / });
      await visible(bobBadge.and(b.getByRole('button', { name: 'heart: 1 reaction', exact: true })));
      expect(await bobBadge.getAttribute('aria-pressed')).to.equal('false');
      expect(await bobBadge.textContent()).to.contain('1');

      // Bob joins in by clicking the badge: both see 2, each with their own highlighted.
      await bobBadge.click();
      await visible(messageBubble(b, 'Sounds good, the usual place').getByRole('button', { name: 'heart: 2 reactions, including yours' }));
      await visible(messageBubble(a, 'Sounds good, the usual place').getByRole('button', { name: 'heart: 2 reactions, including yours' }));

      // A second kind from Bob's picker on Alice's message.
      const bobMenu = await messageActions(b, 'Great, see you there');
      await bobMenu.getByRole('button', { name: 'React with thumbsup' }).click();
      await visible(messageBubble(a, 'Great, see you there').getByRole('button', { name: 'thumbsup: 1 reaction', exact: true }));

      // Alice takes hers back from the badge: Bob sees 1 (his own) live.
      await messageBubble(a, 'Sounds good, the usual place').getByRole('button', { name: 'heart: 2 reactions, including yours' }).click();
      await visible(messageBubble(a, 'Sounds good, the usual place').getByRole('button', { name: 'heart: 1 reaction', exact: true }));
      await visible(messageBubble(b, 'Sounds good, the usual place').getByRole('button', { name: 'heart: 1 reaction, including yours' }));
    });

    it('pins a message: the marker on both sides, the pinned list in the header jumps to it', async () => {
      const a = alice.page;
      const b = bob.page;
      const menu = await messageActions(b, 'Lunch at noon tomorrow?');
      await menu.getByRole('menuitem', { name: 'Pin message' }).click();
      await visible(messageBubble(b, 'Lunch at noon tomorrow?').getByRole('note', { name: 'Pinned by you' }));
      await visible(messageBubble(a, 'Lunch at noon tomorrow?').getByRole('note', { name: `Pinned by ${bob.username}` }));
      // Only that message carries the marker.
      expect(await timeline(a).getByRole('note', { name: /^Pinned by/ }).count()).to.equal(1);

      // Alice's header counts it (live, from Bob's pin) and lists it.
      const pinsButton = a.getByRole('button', { name: 'Pinned messages (1)' });
      await visible(pinsButton);
      await pinsButton.click();
      const panel = a.getByRole('dialog', { name: 'Pinned messages' });
      await visible(panel);
      const entry = panel.getByRole('button', { name: 'Lunch at noon tomorrow?, from you. Show it' });
      await visible(entry);
      await visible(panel.getByText(`pinned by ${bob.username}`));
      await entry.click();
      await panel.waitFor({ state: 'detached' });
      await a.waitForSelector('kecalek-message[highlighted]', { timeout: 15_000 });
      expect(await messageBubble(a, 'Lunch at noon tomorrow?').getAttribute('highlighted')).to.not.equal(null);

      // The menu now offers Unpin; Bob's list shows it too; Escape closes the list.
      const again = await messageActions(b, 'Lunch at noon tomorrow?');
      await visible(again.getByRole('menuitem', { name: 'Unpin message' }));
      expect(await again.getByRole('menuitem', { name: 'Pin message', exact: true }).count()).to.equal(0);
      await b.keyboard.press('Escape');
      await again.waitFor({ state: 'detached' });
      await b.getByRole('button', { name: /^Pinned messages/ }).click();
      await visible(b.getByRole('dialog', { name: 'Pinned messages' }).getByText('Lunch at noon tomorrow?'));
      await b.keyboard.press('Escape');
      await b.getByRole('dialog', { name: 'Pinned messages' }).waitFor({ state: 'detached' });
    });

    it('mentions with @ autocomplete (keyboard and click), and the one mentioned sees it highlighted', async () => {
      const b = bob.page;
      const a = alice.page;
      const box = b.getByRole('textbox', { name: 'Message' });
      const list = b.getByRole('listbox', { name: 'Mention someone' });

      // Escape closes the list without sending.
      await box.fill('Hey @');
      await visible(list);
      await visible(list.getByRole('option', { name: alice.username }));
      await box.press('Escape');
      await list.waitFor({ state: 'detached' });
      expect(await box.inputValue()).to.equal('Hey @');

      // A name that nobody has: no list.
      await box.fill('Hey @zzzz');
      await b.waitForTimeout(200);
      expect(await list.count()).to.equal(0);

      // The keyboard: type the start of the name, Down/Up, Tab inserts it.
      await box.fill('');
      await box.pressSequentially(`Thanks @${alice.username.slice(0, 3)}`);
      await visible(list);
      expect(await list.getByRole('option').count()).to.equal(1);
      expect(await list.getByRole('option').first().getAttribute('aria-selected')).to.equal('true');
      await box.press('ArrowDown');
      await box.press('ArrowUp');
      await b.mouse.move(760, 100);
      await b.screenshot({ path: join(ARTIFACTS_DIR, 'plugins-mention-autocomplete-light.png') });
      await box.press('Tab');
      await list.waitFor({ state: 'detached' });
      expect(await box.inputValue()).to.equal(`Thanks @${alice.username} `);
      expect(await box.evaluate((el) => el.matches(':focus'))).to.equal(true);
      await box.pressSequentially('for lunch!');
      await box.press('Enter');

      // Alice: her name is marked as a mention of her.
      const mine = messageBubble(a, 'for lunch!').locator('mark[title="Mentions you"]');
      await visible(mine);
      expect(await mine.textContent()).to.equal(`@${alice.username}`);
      expect(await mine.evaluate((el) => el.classList.contains('strong'))).to.equal(true);
      // Bob's own copy marks it too, not as a mention of him.
      await visible(messageBubble(b, 'for lunch!').locator(`mark[title="Mentions ${alice.username}"]`));

      // A click on a suggestion inserts it as well, and Enter picks the selected one without sending.
      await box.fill('@');
      await visible(list);
      await list.getByRole('option', { name: alice.username }).click();
      expect(await box.inputValue()).to.equal(`@${alice.username} `);
      await box.fill(`Ping @${alice.username.slice(0, 2)}`);
      await visible(list);
      await box.press('Enter');
      expect(await box.inputValue()).to.equal(`Ping @${alice.username} `);
      await box.pressSequentially('again');
      await box.press('Enter');
      await visible(messageBubble(a, 'again').locator('mark[title="Mentions you"]'));
      // Text that is not a mention stays plain.
      await send(a, 'mail me at someone@example.test');
      await visible(timeline(b).getByText('mail me at someone@example.test'));
      expect(await messageBubble(b, 'mail me at someone@example.test').locator('mark').count()).to.equal(0);
    });

    it('creates a poll from the composer, the other side votes, and both see the counts live', async () => {
      const a = alice.page;
      const b = bob.page;
      await a.getByRole('button', { name: 'Create a poll' }).click();
      const dialog = a.getByRole('dialog', { name: 'New poll' });
      await visible(dialog);
      await dialog.getByLabel('Question').fill('Where for lunch?');
      await dialog.getByRole('textbox', { name: 'Option 1' }).fill('Pizza');
      await dialog.getByRole('textbox', { name: 'Option 2' }).fill('Sushi');
      await dialog.getByRole('button', { name: '+ Add an option' }).click();
      await dialog.getByRole('textbox', { name: 'Option 3' }).fill('Tacos');
      await dialog.getByRole('button', { name: 'Create poll' }).click();
      await dialog.waitFor({ state: 'hidden' });

      const bobPoll = b.getByRole('group', { name: 'Poll: Where for lunch?' });
      await visible(bobPoll);
      await bobPoll.getByRole('button', { name: /^Sushi: 0 votes/ }).click();
      await visible(bobPoll.getByRole('button', { name: 'Sushi: 1 vote, your vote' }));
      const alicePoll = a.getByRole('group', { name: 'Poll: Where for lunch?' });
      await visible(alicePoll.getByRole('button', { name: 'Sushi: 1 vote', exact: true }));
      await visible(alicePoll.getByText('1 person voted'));
      await alicePoll.getByRole('button', { name: /^Sushi: 1 vote/ }).click();
      await visible(alicePoll.getByRole('button', { name: 'Sushi: 2 votes, your vote' }));
      await visible(bobPoll.getByRole('button', { name: 'Sushi: 2 votes, your vote' }));
      // The share bar is drawn (through the CSSOM: the CSP blocks inline style attributes).
      const bar = bobPoll.getByRole('button', { name: /^Sushi/ }).locator('.bar');
      expect(await bar.evaluate((el) => el.getBoundingClientRect().width)).to.be.greaterThan(100);
      // The creator closes it: no more votes.
      await alicePoll.getByRole('button', { name: 'Close poll' }).click();
      await visible(bobPoll.getByText('2 people voted · closed'));
      expect(await bobPoll.getByRole('button', { name: /^Pizza/ }).isDisabled()).to.equal(true);
    });

    it('invites to a group: the invitation shows live in the list, joining opens the group and its new messages', async () => {
      const a = alice.page;
      const b = bob.page;
      await a.getByRole('button', { name: 'New group' }).click();
      const dialog = a.getByRole('dialog', { name: 'New group' });
      await dialog.getByLabel('Group name').fill('Book club');
      await dialog.getByRole('button', { name: 'Create group' }).click();
      await visible(a.getByRole('heading', { name: 'Book club', level: 2 }));
      await a.getByRole('button', { name: 'Group info' }).click();
      const info = a.getByRole('dialog', { name: 'Group info' });
      await info.getByLabel('Email address to add').fill(bob.email);
      await info.getByRole('button', { name: 'Add' }).click();
      await visible(info.getByText(`Invitation sent to ${bob.email}.`));
      await info.getByRole('button', { name: 'Close' }).click();

      // Bob: the invitation appears at the top of his list (pushed), not the group itself.
      const card = b.getByRole('listitem', { name: 'Invitation to Book club' });
      await visible(card);
      await visible(card.getByText(alice.username));
      expect(await conversationButton(b, 'Book club').count()).to.equal(0);
      await settlePage(b);
      await b.screenshot({ path: join(ARTIFACTS_DIR, 'plugins-invitation-light.png') });

      await card.getByRole('button', { name: 'Join Book club' }).click();
      await visible(b.getByRole('heading', { name: 'Book club', level: 2 }));
      await card.waitFor({ state: 'detached' });
      await visible(conversationButton(b, 'Book club'));
      await visible(a.getByText('2 members'));

      await send(a, 'Welcome to the club! First book: Dune');
      await visible(timeline(b).getByText('Welcome to the club! First book: Dune'));
      await send(b, 'Thanks for the invitation');
      await visible(timeline(a).getByText('Thanks for the invitation'));
    });

    it('switches the theme and takes screenshots with reactions and pins in both themes', async () => {
      const a = alice.page;
      await conversationButton(a, bob.username).click();
      await visible(timeline(a).getByText('Lunch at noon tomorrow?'));
      const badge = messageBubble(a, 'Sounds good, the usual place').getByRole('button', { name: /^heart: / });
      await visible(badge);
      const menu = await messageActions(a, 'Sounds good, the usual place');
      await menu.getByRole('button', { name: 'React with laugh' }).click();
      await visible(messageBubble(a, 'Sounds good, the usual place').getByRole('button', { name: 'laugh: 1 reaction, including yours' }));

      await a.getByRole('button', { name: 'Settings' }).click();
      const settings = a.getByRole('dialog', { name: 'Settings' });
      await settings.getByRole('radio', { name: 'Light' }).check();
      await a.waitForFunction(() => document.documentElement.dataset.theme === 'light');
      await a.keyboard.press('Escape');
      await settings.waitFor({ state: 'detached' });
      await messageBubble(a, 'Lunch at noon tomorrow?').scrollIntoViewIfNeeded();
      await settlePage(a);
      await a.screenshot({ path: join(ARTIFACTS_DIR, 'plugins-light.png') });
      // The plugins' elements follow the theme's variables.
      const lightBadge = await badge.evaluate((el) => getComputedStyle(el).backgroundColor);

      await a.getByRole('button', { name: 'Settings' }).click();
      await a.getByRole('dialog', { name: 'Settings' }).getByRole('radio', { name: 'Dark' }).check();
      await a.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
      await a.keyboard.press('Escape');
      await settlePage(a);
      await a.screenshot({ path: join(ARTIFACTS_DIR, 'plugins-dark.png') });
      const darkBadge = await badge.evaluate((el) => getComputedStyle(el).backgroundColor);
      expect(darkBadge).to.not.equal(lightBadge);

      await a.getByRole('button', { name: 'Pinned messages (1)' }).click();
      await visible(a.getByRole('dialog', { name: 'Pinned messages' }));
      await a.mouse.move(760, 400);
      await a.screenshot({ path: join(ARTIFACTS_DIR, 'plugins-pinned-list-dark.png') });
      await a.keyboard.press('Escape');

      expect(alice.errors).to.deep.equal([]);
      expect(bob.errors).to.deep.equal([]);
    });
  });

  describe('on a server without reactions', () => {
    let server: TestServer;
    let scene: Scene;
    let carol: Person;
    let dave: Person;

    before(async () => {
      server = await startTestServer({ plugins: ['pins', 'mentions', 'invitations'] });
      scene = new Scene(() => server, () => rendererDir, clientPlugins);
    });

    after(async () => {
      await scene?.close();
      await server?.close();
    });

    afterEach(async function () {
      if (this.currentTest?.state === 'failed') await scene.screenshotFailures(this.currentTest.title);
    });

    it('offers no reaction picker or badges, and pins, mentions and messages work as before', async () => {
      carol = await scene.open('carol', 'light');
      await scene.registerThroughBridge(carol);
      dave = await scene.open('dave', 'light');
      await scene.registerThroughBridge(dave);
      await scene.directConversation(carol, dave, 'Is the plan still on?');
      await send(dave.page, 'Yes, 7 pm');
      await visible(timeline(carol.page).getByText('Yes, 7 pm'));

      const menu = await messageActions(carol.page, 'Yes, 7 pm');
      await visible(menu.getByRole('menuitem', { name: 'Reply' }));
      await visible(menu.getByRole('menuitem', { name: 'Pin message' }));
      expect(await menu.getByRole('button', { name: /^React with/ }).count()).to.equal(0);
      expect(await carol.page.locator('reactions-picker').count()).to.equal(0);
      await menu.getByRole('menuitem', { name: 'Pin message' }).click();
      await visible(messageBubble(dave.page, 'Yes, 7 pm').getByRole('note', { name: `Pinned by ${carol.username}` }));

      const box = carol.page.getByRole('textbox', { name: 'Message' });
      await box.pressSequentially(`See you @${dave.username.slice(0, 3)}`);
      await visible(carol.page.getByRole('listbox', { name: 'Mention someone' }));
      await box.press('Enter');
      await box.pressSequentially('then');
      await box.press('Enter');
      await visible(messageBubble(dave.page, 'then').locator('mark[title="Mentions you"]'));

      expect(await timeline(dave.page).locator('reactions-badges').count()).to.equal(0);
      expect(await dave.page.locator('polls-create').count()).to.equal(0);
      expect(carol.errors).to.deep.equal([]);
      expect(dave.errors).to.deep.equal([]);
    });
  });
});
