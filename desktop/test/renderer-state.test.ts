/**
 * The renderer's pure state modules in Node (no browser, no Lit): the model's id helpers, the
 * observable store, the toast service and every reducer the controller drives from bridge events
 * and optimistic sends.
 */
import { expect } from 'chai';
import type { BridgeConversation, BridgeMessage, BridgeState } from '../shared/bridge.js';
import { EMPTY_LIST, initialState, isLocal, isUnconfirmed, localId, pendingId, type AppState } from '../renderer/state/model.js';
import * as R from '../renderer/state/reducers.js';
import { Store } from '../renderer/state/store.js';
import { ToastService, type Toast } from '../renderer/state/toasts.js';

// ---- fixtures -----------------------------------------------------------------------------------

const SELF = { userId: 'u-me', username: 'me', deviceId: 'd-me', email: 'me@example.test' };
const T0 = Date.UTC(2024, 2, 11, 12, 0, 0);

function msg(overrides: Partial<BridgeMessage> & { id: string }): BridgeMessage {
  return {
    conversationId: 'c1',
    senderId: 'u-anna',
    senderUsername: 'anna',
    senderDeviceId: 'd-anna',
    createdAt: T0,
    own: false,
    text: 'hello',
    payload: {},
    deleted: false,
    undecryptable: false,
    status: 'sent',
    extra: {},
    ...overrides,
  };
}

function own(overrides: Partial<BridgeMessage> & { id: string }): BridgeMessage {
  return msg({ senderId: SELF.userId, senderUsername: SELF.username, senderDeviceId: SELF.deviceId, own: true, ...overrides });
}

/** The renderer's optimistic copy, as the controller builds it. */
function local(cmid: string, text: string, createdAt: number, extra: Partial<BridgeMessage> = {}): BridgeMessage {
  return own({ id: localId(cmid), clientMsgId: cmid, text, createdAt, status: 'pending', ...extra });
}

/** The core's pending copy (its own client message id). */
function corePending(cmid: string, text: string, createdAt: number, extra: Partial<BridgeMessage> = {}): BridgeMessage {
  return own({ id: pendingId(cmid), clientMsgId: cmid, text, createdAt, status: 'pending', ...extra });
}

/** The server-confirmed message of the core's send `cmid`. */
function confirmed(id: string, cmid: string, text: string, createdAt: number, extra: Partial<BridgeMessage> = {}): BridgeMessage {
  return own({ id, clientMsgId: cmid, text, createdAt, status: 'sent', ...extra });
}

function conv(id: string, overrides: Partial<BridgeConversation> = {}): BridgeConversation {
  return {
    id,
    kind: 'dm',
    name: id,
    createdBy: SELF.userId,
    members: [
      { userId: SELF.userId, username: SELF.username, role: 'creator', joinedAt: 0 },
      { userId: 'u-anna', username: 'anna', role: 'member', joinedAt: 0 },
    ],
    unreadCount: 0,
    extra: {},
    createdAt: T0 - 86_400_000,
    lastMessageAt: null,
    ...overrides,
  };
}

/** Each snapshot newer than the one before, as the bridge hands them out. */
let nextRevision = 1;

function bridgeState(overrides: Partial<BridgeState> = {}): BridgeState {
  return {
    revision: nextRevision++,
    connection: 'connected',
    self: SELF,
    server: undefined,
    accounts: [{ email: SELF.email, username: SELF.username }],
    serverAddress: 'localhost:1',
    serverVerified: true,
    settings: { theme: 'dark' },
    ...overrides,
  };
}

/** A signed-in state with these conversations (and message lists loaded for `opened`). */
function signedIn(conversations: BridgeConversation[], opened: Record<string, BridgeMessage[]> = {}): AppState {
  let state = R.applyBridgeState(initialState(), bridgeState());
  state = R.applyConversations(state, conversations);
  for (const [id, items] of Object.entries(opened)) state = R.applyCached(state, id, items);
  return state;
}

const ids = (state: AppState, conversationId = 'c1'): string[] => R.messageList(state, conversationId).items.map((m) => m.id);
const conversation = (state: AppState, id = 'c1'): BridgeConversation => {
  const found = state.conversations.find((c) => c.id === id);
  if (!found) throw new Error(`no conversation ${id}`);
  return found;
};

// ---- model --------------------------------------------------------------------------------------

describe('desktop renderer: state model', () => {
  it('starts signed out, not ready, with empty collections and the system theme', () => {
    const state = initialState();
    expect(state.ready).to.equal(false);
    expect(state.self).to.equal(undefined);
    expect(state.connection).to.equal('disconnected');
    expect(state.conversations).to.deep.equal([]);
    expect(state.conversationsLoaded).to.equal(false);
    expect(state.messages.size).to.equal(0);
    expect(state.online.size).to.equal(0);
    expect(state.settings).to.deep.equal({ theme: 'system' });
  });

  it('gives every call a fresh state (no shared mutable collections)', () => {
    const a = initialState();
    const b = initialState();
    expect(a).to.not.equal(b);
    expect(a.messages).to.not.equal(b.messages);
    expect(a.online).to.not.equal(b.online);
  });

  it('EMPTY_LIST is frozen, not loaded, and assumes older history may exist', () => {
    expect(Object.isFrozen(EMPTY_LIST)).to.equal(true);
    expect(EMPTY_LIST).to.include({ loaded: false, synced: false, hasOlder: true, loadingOlder: false });
    expect(EMPTY_LIST.items).to.have.length(0);
  });

  it('tells optimistic, core-pending and confirmed ids apart', () => {
    expect(localId('abc')).to.equal('local:abc');
    expect(pendingId('abc')).to.equal('pending:abc');
    expect(isLocal({ id: localId('x') })).to.equal(true);
    expect(isLocal({ id: pendingId('x') })).to.equal(false);
    expect(isUnconfirmed({ id: localId('x') })).to.equal(true);
    expect(isUnconfirmed({ id: pendingId('x') })).to.equal(true);
    expect(isUnconfirmed({ id: 'm-123' })).to.equal(false);
    // Only a prefix counts, not the text anywhere in the id.
    expect(isUnconfirmed({ id: 'm-local:1' })).to.equal(false);
  });
});

// ---- store --------------------------------------------------------------------------------------

describe('desktop renderer: Store', () => {
  it('replaces the state and notifies listeners synchronously with the next and the previous state', () => {
    const store = new Store({ n: 1 });
    const calls: Array<[number, number]> = [];
    store.subscribe((next, previous) => calls.push([next.n, previous.n]));
    store.update((s) => ({ n: s.n + 1 }));
    expect(calls).to.deep.equal([[2, 1]]);
    expect(store.state.n).to.equal(2);
  });

  it('does not notify when the recipe returns the same state object', () => {
    const store = new Store({ n: 1 });
    let calls = 0;
    store.subscribe(() => calls++);
    store.update((s) => s);
    expect(calls).to.equal(0);
    // A structurally equal but new object is a change (identity decides).
    store.update((s) => ({ ...s }));
    expect(calls).to.equal(1);
  });

  it('stops notifying after unsubscribe, and unsubscribing twice is harmless', () => {
    const store = new Store(0);
    const seen: number[] = [];
    const off = store.subscribe((s) => seen.push(s));
    store.update((s) => s + 1);
    off();
    off();
    store.update((s) => s + 1);
    expect(seen).to.deep.equal([1]);
    expect(store.state).to.equal(2);
  });

  it('keeps notifying the other listeners when one throws', () => {
    const store = new Store(0);
    const seen: string[] = [];
    const originalError = console.error;
    const logged: unknown[][] = [];
    console.error = (...args: unknown[]) => logged.push(args);
    try {
      store.subscribe(() => {
        seen.push('a');
        throw new Error('boom');
      });
      store.subscribe(() => seen.push('b'));
      store.update((s) => s + 1);
    } finally {
      console.error = originalError;
    }
    expect(seen).to.deep.equal(['a', 'b']);
    expect(store.state).to.equal(1);
    expect(logged).to.have.length(1);
  });

  it('lets a listener unsubscribe another during a notification without skipping the current round', () => {
    const store = new Store(0);
    const seen: string[] = [];
    let offB: () => void = () => undefined;
    store.subscribe(() => {
      seen.push('a');
      offB();
    });
    offB = store.subscribe(() => seen.push('b'));
    store.update((s) => s + 1);
    store.update((s) => s + 1);
    expect(seen).to.deep.equal(['a', 'b', 'a']);
  });

  it('sees nested updates from a listener (the state is already the new one)', () => {
    const store = new Store(0);
    const seen: Array<[number, number]> = [];
    store.subscribe((next, previous) => {
      seen.push([next, previous]);
      if (next === 1) store.update((s) => s + 10);
    });
    store.update((s) => s + 1);
    expect(store.state).to.equal(11);
    expect(seen).to.deep.equal([
      [1, 0],
      [11, 1],
    ]);
  });
});

// ---- toasts -------------------------------------------------------------------------------------

describe('desktop renderer: ToastService', () => {
  let service: ToastService;

  beforeEach(() => {
    service = new ToastService();
  });

  afterEach(() => {
    // No timer outlives a test.
    for (const toast of service.store.state) service.dismiss(toast.id);
  });

  /** Resolves once no toast with this id is shown (event-driven through the store, no sleeping). */
  function gone(id: number): Promise<void> {
    return new Promise((resolve) => {
      if (!service.store.state.some((t) => t.id === id)) return resolve();
      const off = service.store.subscribe((list) => {
        if (!list.some((t) => t.id === id)) {
          off();
          resolve();
        }
      });
    });
  }

  it('shows toasts in order with increasing ids and the kind given (info by default)', () => {
    const a = service.show('Copied');
    const b = service.error('Send failed');
    expect(b).to.be.greaterThan(a);
    expect(service.store.state).to.deep.equal([
      { id: a, text: 'Copied', kind: 'info' },
      { id: b, text: 'Send failed', kind: 'error' },
    ] satisfies Toast[]);
  });

  it('does not repeat the same text of the same kind while it is shown', () => {
    const a = service.error('Network down');
    const states: Array<readonly Toast[]> = [];
    service.store.subscribe((s) => states.push(s));
    const again = service.error('Network down');
    expect(again).to.equal(a);
    expect(service.store.state).to.have.length(1);
    expect(states).to.have.length(0);
  });

  it('shows the same text again as a separate toast when the kind differs', () => {
    service.show('Same', 'info');
    service.show('Same', 'error');
    expect(service.store.state.map((t) => t.kind)).to.deep.equal(['info', 'error']);
  });

  it('keeps at most four toasts, dropping the oldest', () => {
    const shown = ['1', '2', '3', '4', '5', '6'].map((text) => service.show(text, 'info', { timeoutMs: 0 }));
    expect(service.store.state.map((t) => t.text)).to.deep.equal(['3', '4', '5', '6']);
    expect(service.store.state.map((t) => t.id)).to.deep.equal(shown.slice(2));
  });

  it('a dropped toast shown again comes back as a new toast', () => {
    const first = service.show('1', 'info', { timeoutMs: 0 });
    for (const text of ['2', '3', '4', '5']) service.show(text, 'info', { timeoutMs: 0 });
    const again = service.show('1', 'info', { timeoutMs: 0 });
    expect(again).to.not.equal(first);
    expect(service.store.state.map((t) => t.text)).to.deep.equal(['3', '4', '5', '1']);
  });

  it('dismisses by id; an unknown id changes nothing and notifies no one', () => {
    const a = service.show('a', 'info', { timeoutMs: 0 });
    const b = service.show('b', 'info', { timeoutMs: 0 });
    let notified = 0;
    service.store.subscribe(() => notified++);
    service.dismiss(9999);
    expect(notified).to.equal(0);
    service.dismiss(a);
    expect(service.store.state.map((t) => t.id)).to.deep.equal([b]);
    expect(notified).to.equal(1);
  });

  it('goes away by itself after its timeout', async () => {
    const id = service.show('short-lived', 'info', { timeoutMs: 1 });
    expect(service.store.state.map((t) => t.id)).to.include(id);
    await gone(id);
    expect(service.store.state).to.have.length(0);
  });

  it('timeoutMs 0 keeps a toast while a later, expiring one goes', async () => {
    const kept = service.show('sticky', 'error', { timeoutMs: 0 });
    const brief = service.show('brief', 'info', { timeoutMs: 1 });
    await gone(brief);
    expect(service.store.state.map((t) => t.id)).to.deep.equal([kept]);
  });

  it('showing the same text again re-arms its timer with the new options', async () => {
    const id = service.show('repeat', 'info', { timeoutMs: 1 });
    expect(service.show('repeat', 'info', { timeoutMs: 0 })).to.equal(id);
    // Armed after the first one's (cleared) timer: had that timer survived, it would fire first.
    const sentinel = service.show('sentinel', 'info', { timeoutMs: 1 });
    await gone(sentinel);
    expect(service.store.state.map((t) => t.id)).to.deep.equal([id]);
  });
});

// ---- reducers: merging messages -----------------------------------------------------------------

describe('desktop renderer: mergeMessages / compareMessages', () => {
  it('orders by createdAt, oldest first, whatever order the input came in', () => {
    const a = msg({ id: 'a', createdAt: T0 + 3 });
    const b = msg({ id: 'b', createdAt: T0 + 1 });
    const c = msg({ id: 'c', createdAt: T0 + 2 });
    expect(R.mergeMessages([], [a, b, c]).map((m) => m.id)).to.deep.equal(['b', 'c', 'a']);
  });

  it('breaks createdAt ties by id, so the order is stable', () => {
    const x = msg({ id: 'x', createdAt: T0 });
    const y = msg({ id: 'y', createdAt: T0 });
    expect(R.mergeMessages([], [y, x]).map((m) => m.id)).to.deep.equal(['x', 'y']);
    expect(R.mergeMessages([], [x, y]).map((m) => m.id)).to.deep.equal(['x', 'y']);
  });

  it('keeps messages still being sent after every confirmed one, but a failed one in time order', () => {
    const sending = local('r1', 'on its way', T0 - 10_000);
    const failed = local('r2', 'did not go', T0 - 20_000, { status: 'failed' });
    const later = msg({ id: 'm-later', createdAt: T0 });
    expect(R.mergeMessages([], [sending, later, failed]).map((m) => m.id)).to.deep.equal([failed.id, 'm-later', sending.id]);
  });

  it('returns the same array when nothing came in or nothing changed', () => {
    const a = msg({ id: 'a' });
    const items = R.mergeMessages([], [a]);
    expect(R.mergeMessages(items, [])).to.equal(items);
    expect(R.mergeMessages(items, [a])).to.equal(items);
  });

  it('dedupes by id: a new copy replaces the old one in place', () => {
    const a = msg({ id: 'a', createdAt: T0, text: 'v1' });
    const b = msg({ id: 'b', createdAt: T0 + 1 });
    const items = R.mergeMessages([], [a, b]);
    const next = R.mergeMessages(items, [msg({ id: 'a', createdAt: T0, text: 'v2' }), msg({ id: 'a', createdAt: T0, text: 'v3' })]);
    expect(next.map((m) => `${m.id}:${m.text}`)).to.deep.equal(['a:v3', 'b:hello']);
  });

  it('replaces the core pending copy with the confirmed message (same clientMsgId) and keeps its render key', () => {
    const pending = corePending('c1', 'hi', T0);
    const items = R.mergeMessages([msg({ id: 'older', createdAt: T0 - 1 })], [pending]);
    const sent = confirmed('m-1', 'c1', 'hi', T0 + 5);
    const next = R.mergeMessages(items, [sent]);
    expect(next.map((m) => m.id)).to.deep.equal(['older', 'm-1']);
    expect(R.renderKey(next[1]!)).to.equal(pending.id);
  });

  it('drops a pending copy that arrives after its confirmation (in the same batch or later)', () => {
    const sent = confirmed('m-1', 'c1', 'hi', T0);
    const pending = corePending('c1', 'hi', T0 - 5);
    expect(R.mergeMessages([], [sent, pending]).map((m) => m.id)).to.deep.equal(['m-1']);
    const items = R.mergeMessages([], [sent]);
    expect(R.mergeMessages(items, [pending])).to.equal(items);
  });

  it('lets the core pending copy of a send replace the renderer optimistic copy', () => {
    const optimistic = local('r1', 'hi', T0);
    const items = R.mergeMessages([], [optimistic]);
    const core = corePending('c1', 'hi', T0 + 3);
    const next = R.mergeMessages(items, [core]);
    expect(next.map((m) => m.id)).to.deep.equal([core.id]);
    expect(R.renderKey(next[0]!)).to.equal(optimistic.id);
  });

  it('does not adopt an optimistic copy with other text, another reply target, from another device or long before it', () => {
    const optimistic = local('r1', 'hi', T0, { replyTo: { messageId: 'q', senderId: 'u-anna', excerpt: 'q?' } });
    const items = R.mergeMessages([], [optimistic]);
    const cases: BridgeMessage[] = [
      confirmed('m-text', 'c1', 'hi!', T0 + 1, { replyTo: optimistic.replyTo }),
      confirmed('m-reply', 'c2', 'hi', T0 + 1),
      confirmed('m-device', 'c3', 'hi', T0 + 1, { senderDeviceId: 'd-other', replyTo: optimistic.replyTo }),
      confirmed('m-early', 'c4', 'hi', T0 - R.ADOPT_SKEW_MS - 1, { replyTo: optimistic.replyTo }),
    ];
    for (const incoming of cases) {
      const next = R.mergeMessages(items, [incoming]);
      expect(next.map((m) => m.id), incoming.id).to.include(optimistic.id).and.include(incoming.id);
    }
    // Within the clock skew allowance it is adopted.
    const skewed = confirmed('m-skew', 'c5', 'hi', T0 - R.ADOPT_SKEW_MS + 1, { replyTo: optimistic.replyTo });
    expect(R.mergeMessages(items, [skewed]).map((m) => m.id)).to.deep.equal(['m-skew']);
  });

  it('never lets someone else’s message (or a message not ours) adopt an optimistic copy', () => {
    const optimistic = local('r1', 'hi', T0);
    const items = R.mergeMessages([], [optimistic]);
    const theirs = msg({ id: 'm-anna', text: 'hi', createdAt: T0 + 1, senderDeviceId: SELF.deviceId });
    expect(R.mergeMessages(items, [theirs]).map((m) => m.id)).to.have.members([optimistic.id, 'm-anna']);
  });

  it('two optimistic copies with the same text are adopted oldest first', () => {
    const first = local('r1', 'ok', T0);
    const second = local('r2', 'ok', T0 + 10);
    let items = R.mergeMessages([], [first, second]);
    items = R.mergeMessages(items, [corePending('c1', 'ok', T0 + 1)]);
    expect(items.map((m) => m.id)).to.deep.equal([pendingId('c1'), second.id]);
    expect(R.renderKey(items[0]!)).to.equal(first.id);
  });

  it('adopts the optimistic copy with the same clientMsgId first, whatever its text or time', () => {
    const a = local('r1', 'ok', T0);
    const b = local('r2', 'ok', T0 + 10);
    let items = R.mergeMessages([], [a, b]);
    items = R.mergeMessages(items, [confirmed('m-2', 'r2', 'ok (edited by a plugin)', T0 + 3_600_000)]);
    expect(items.map((m) => m.id)).to.deep.equal(['m-2', a.id]);
    expect(R.renderKey(items[0]!)).to.equal(b.id);
  });

  it('does not adopt by text a copy that another incoming message claims by clientMsgId', () => {
    const a = local('r1', 'ok', T0);
    const b = local('r2', 'ok', T0 + 10);
    const items = R.mergeMessages([], [a, b]);
    // 'm-x' (another id) would match r1 best by time, but 'm-1' claims it.
    const next = R.mergeMessages(items, [confirmed('m-x', 'core-x', 'ok', T0 + 1), confirmed('m-1', 'r1', 'ok', T0 + 2)]);
    expect(next.map((m) => m.id)).to.deep.equal(['m-x', 'm-1']);
    expect(R.renderKey(next[0]!)).to.equal(b.id);
    expect(R.renderKey(next[1]!)).to.equal(a.id);
  });

  it('adopts by text a copy still being sent before a failed one, then the closest in time, within the window', () => {
    const failed = local('r1', 'ok', T0 + 5, { status: 'failed' });
    const far = local('r2', 'ok', T0 - 60_000);
    const near = local('r3', 'ok', T0);
    const items = R.mergeMessages([], [failed, far, near]);
    const next = R.mergeMessages(items, [confirmed('m-1', 'core-1', 'ok', T0 + 6)]);
    expect(next.map((m) => m.id)).to.have.members([failed.id, far.id, 'm-1']);
    expect(R.renderKey(next.find((m) => m.id === 'm-1')!)).to.equal(near.id);
    // Only failed copies: the closest one.
    const onlyFailed = R.mergeMessages([], [failed, local('r4', 'ok', T0 - 30_000, { status: 'failed' })]);
    expect(R.mergeMessages(onlyFailed, [confirmed('m-2', 'core-2', 'ok', T0 + 6)]).map((m) => m.id)).to.have.members([localId('r4'), 'm-2']);
  });

  it('does not adopt by text an optimistic copy older than the window', () => {
    const optimistic = local('r1', 'hi', T0);
    const items = R.mergeMessages([], [optimistic]);
    const late = confirmed('m-late', 'c1', 'hi', T0 + R.ADOPT_WINDOW_MS + 1);
    expect(R.mergeMessages(items, [late]).map((m) => m.id)).to.deep.equal(['m-late', optimistic.id]);
    const inTime = confirmed('m-in', 'c1', 'hi', T0 + R.ADOPT_WINDOW_MS);
    expect(R.mergeMessages(items, [inTime]).map((m) => m.id)).to.deep.equal(['m-in']);
    // The send's own answer still replaces it by the renderer's id.
    expect(R.replacePending(R.mergeMessages(items, [late]), 'r1', { ...late }).map((m) => m.id)).to.deep.equal(['m-late']);
  });

  it('a confirmation replacing the core pending copy does not also take another optimistic copy', () => {
    let items = R.mergeMessages([], [local('r1', 'ok', T0)]);
    items = R.mergeMessages(items, [corePending('c1', 'ok', T0 + 1)]);
    items = R.mergeMessages(items, [local('r2', 'ok', T0 + 2)]);
    items = R.mergeMessages(items, [confirmed('m-1', 'c1', 'ok', T0 + 3)]);
    expect(items.map((m) => m.id)).to.deep.equal(['m-1', localId('r2')]);
  });

  it('a new message keeps the render key of the version it replaced (the key chain survives)', () => {
    const optimistic = local('r1', 'hi', T0);
    let items = R.mergeMessages([], [optimistic]);
    items = R.mergeMessages(items, [corePending('c1', 'hi', T0 + 1)]);
    items = R.mergeMessages(items, [confirmed('m-1', 'c1', 'hi', T0 + 2)]);
    items = R.mergeMessages(items, [confirmed('m-1', 'c1', 'hi', T0 + 2, { extra: { reactions: 1 } })]);
    expect(items).to.have.length(1);
    expect(R.renderKey(items[0]!)).to.equal(optimistic.id);
    // A message that replaced nothing is keyed by its own id.
    expect(R.renderKey(msg({ id: 'fresh' }))).to.equal('fresh');
  });
});

describe('desktop renderer: replacePending / markDeletedIn', () => {
  it('replaces the optimistic copy by the renderer clientMsgId with the confirmed message', () => {
    const optimistic = local('r1', 'hi', T0);
    const other = msg({ id: 'm-other', createdAt: T0 - 1 });
    const items = R.mergeMessages([], [other, optimistic]);
    const sent = confirmed('m-1', 'core-1', 'hi', T0 + 2);
    const next = R.replacePending(items, 'r1', sent);
    expect(next.map((m) => m.id)).to.deep.equal(['m-other', 'm-1']);
    expect(R.renderKey(next[1]!)).to.equal(optimistic.id);
  });

  it('without an optimistic copy, merges the confirmed message (no duplicate when it is already there)', () => {
    const sent = confirmed('m-1', 'core-1', 'hi', T0);
    const items = R.mergeMessages([], [sent]);
    expect(R.replacePending(items, 'r-unknown', sent)).to.equal(items);
    expect(R.replacePending([], 'r-unknown', sent).map((m) => m.id)).to.deep.equal(['m-1']);
  });

  it('does not duplicate when the confirmed message arrived as an event before the send resolved', () => {
    // The core's `message` event can overtake the sendMessage answer.
    const optimistic = local('r1', 'hi', T0, { text: 'hi' });
    const other = local('r2', 'something else', T0 + 1);
    let items = R.mergeMessages([], [optimistic, other]);
    const event = confirmed('m-1', 'core-1', 'hi', T0 + 2);
    items = R.mergeMessages(items, [event]);
    const answer = { ...event };
    items = R.replacePending(items, 'r1', answer);
    expect(items.map((m) => m.id)).to.deep.equal(['m-1', other.id]);
  });

  it('marks a message deleted: no text, no payload, no reply quote, same position; twice is a no-op', () => {
    const target = msg({ id: 'b', createdAt: T0 + 1, text: 'secret', payload: { v: 1 }, replyTo: { messageId: 'a', senderId: 'u', excerpt: 'x' } });
    const items = R.mergeMessages([], [msg({ id: 'a', createdAt: T0 }), target, msg({ id: 'c', createdAt: T0 + 2 })]);
    const next = R.markDeletedIn(items, 'b');
    expect(next.map((m) => m.id)).to.deep.equal(['a', 'b', 'c']);
    expect(next[1]).to.include({ deleted: true, text: '' });
    expect(next[1]!.payload).to.deep.equal({});
    expect(next[1]).to.not.have.property('replyTo');
    expect(items[1]!.text).to.equal('secret');
    expect(next[0]).to.equal(items[0]);
    expect(R.markDeletedIn(next, 'b')).to.equal(next);
    expect(R.markDeletedIn(items, 'missing')).to.equal(items);
  });
});

// ---- reducers: conversations --------------------------------------------------------------------

describe('desktop renderer: conversation reducers', () => {
  it('activityTime takes the newest of lastMessageAt, the preview and creation', () => {
    expect(R.activityTime(conv('a', { createdAt: 5, lastMessageAt: null }))).to.equal(5);
    expect(R.activityTime(conv('a', { createdAt: 5, lastMessageAt: 9 }))).to.equal(9);
    expect(R.activityTime(conv('a', { createdAt: 5, lastMessageAt: 9, lastMessage: msg({ id: 'm', createdAt: 12 }) }))).to.equal(12);
  });

  it('sorts newest activity first, ties by id, without mutating the input', () => {
    const input = [conv('b', { lastMessageAt: T0 }), conv('a', { lastMessageAt: T0 }), conv('c', { lastMessageAt: T0 + 1 })];
    const sorted = R.sortConversations(input);
    expect(sorted.map((c) => c.id)).to.deep.equal(['c', 'a', 'b']);
    expect(input.map((c) => c.id)).to.deep.equal(['b', 'a', 'c']);
  });

  it('filters by name or member, ignoring case, accents and surrounding spaces', () => {
    const list = [conv('1', { name: 'Žluťoučký kůň' }), conv('2', { name: 'Work', kind: 'group', members: [{ userId: 'u-z', username: 'Zdeněk', role: 'member' as const, joinedAt: 0 }] }), conv('3', { name: 'Other', members: [] })];
    expect(R.filterConversations(list, '  zlutou ').map((c) => c.id)).to.deep.equal(['1']);
    expect(R.filterConversations(list, 'ZDENEK').map((c) => c.id)).to.deep.equal(['2']);
    expect(R.filterConversations(list, 'nobody')).to.deep.equal([]);
    expect(R.filterConversations(list, '   ')).to.equal(list);
  });

  it('totalUnread sums the badges', () => {
    expect(R.totalUnread([conv('a', { unreadCount: 2 }), conv('b', { unreadCount: 0 }), conv('c', { unreadCount: 5 })])).to.equal(7);
    expect(R.totalUnread([])).to.equal(0);
  });

  it('applyBridgeState keeps the same account’s data and starts clean for another one or a sign-out', () => {
    const state = signedIn([conv('c1')], { c1: [msg({ id: 'a' })] });
    expect(state.ready).to.equal(true);
    expect(state.self?.userId).to.equal(SELF.userId);
    expect(state.settings.theme).to.equal('dark');

    const same = R.applyBridgeState(state, bridgeState({ connection: 'reconnecting' }));
    expect(same.conversations.map((c) => c.id)).to.deep.equal(['c1']);
    expect(same.connection).to.equal('reconnecting');
    expect(ids(same)).to.deep.equal(['a']);

    const other = R.applyBridgeState(state, bridgeState({ self: { ...SELF, userId: 'u-other' } }));
    expect(other.conversations).to.deep.equal([]);
    expect(other.messages.size).to.equal(0);
    expect(other.ready).to.equal(true);

    const out = R.applyBridgeState(state, bridgeState({ self: undefined }));
    expect(out.self).to.equal(undefined);
    expect(out.conversations).to.deep.equal([]);
    expect(out.conversationsLoaded).to.equal(false);
  });

  it('applyBridgeState ignores a snapshot older than the one applied (a getState answer overtaken by a state event)', () => {
    const before = signedIn([conv('c1')]);
    const staleSignedIn = bridgeState();
    const signedOut = bridgeState({ self: undefined, connection: 'disconnected' });
    const state = R.applyBridgeState(before, signedOut);
    expect(state.self).to.equal(undefined);
    const after = R.applyBridgeState(state, staleSignedIn);
    expect(after).to.equal(state);
    expect(after.self).to.equal(undefined);
    // The same revision again (a getState answered with the snapshot an event carried) still applies.
    expect(R.applyBridgeState(state, { ...signedOut, connection: 'connecting' }).connection).to.equal('connecting');
  });

  it('applyBridgeState carries whether the server certificate is checked (the sign-in screen shows no lock otherwise)', () => {
    expect(initialState().serverVerified).to.equal(true);
    expect(R.applyBridgeState(initialState(), bridgeState({ serverVerified: false })).serverVerified).to.equal(false);
    expect(R.applyBridgeState(initialState(), bridgeState()).serverVerified).to.equal(true);
  });

  it('applyConnection returns the same state when nothing changed', () => {
    const state = initialState();
    expect(R.applyConnection(state, 'disconnected')).to.equal(state);
    expect(R.applyConnection(state, 'connected').connection).to.equal('connected');
  });

  it('applySettings replaces the settings', () => {
    expect(R.applySettings(initialState(), { theme: 'light' }).settings).to.deep.equal({ theme: 'light' });
  });

  it('applyConversations sorts, marks loaded and forgets an active conversation that is gone', () => {
    let state = signedIn([conv('a', { lastMessageAt: T0 }), conv('b', { lastMessageAt: T0 + 1 })]);
    expect(state.conversationsLoaded).to.equal(true);
    expect(state.conversations.map((c) => c.id)).to.deep.equal(['b', 'a']);
    state = R.setActive(state, 'a');
    expect(R.applyConversations(state, [conv('a'), conv('c')]).activeId).to.equal('a');
    expect(R.applyConversations(state, [conv('b')]).activeId).to.equal(undefined);
  });

  it('applyConversations keeps a live preview newer than the core answer', () => {
    let state = signedIn([conv('c1', { lastMessageAt: T0 })]);
    const live = msg({ id: 'm-live', createdAt: T0 + 100 });
    state = R.receiveMessage(state, live, false);
    const stale = conv('c1', { lastMessageAt: T0, lastMessage: msg({ id: 'm-old', createdAt: T0 }), unreadCount: 3 });
    const next = conversation(R.applyConversations(state, [stale]));
    expect(next.lastMessage?.id).to.equal('m-live');
    expect(next.lastMessageAt).to.equal(T0 + 100);
    expect(next.unreadCount).to.equal(3);
    // A core answer that is newer wins.
    const fresh = conv('c1', { lastMessageAt: T0 + 200, lastMessage: msg({ id: 'm-new', createdAt: T0 + 200 }) });
    expect(conversation(R.applyConversations(state, [fresh])).lastMessage?.id).to.equal('m-new');
  });

  it('upsertConversation adds a new one in activity order and updates an existing one in place', () => {
    let state = signedIn([conv('a', { lastMessageAt: T0 }), conv('b', { lastMessageAt: T0 - 5 })]);
    state = R.upsertConversation(state, conv('n', { lastMessageAt: T0 - 1 }));
    expect(state.conversations.map((c) => c.id)).to.deep.equal(['a', 'n', 'b']);
    state = R.upsertConversation(state, conv('b', { lastMessageAt: T0 - 5, name: 'Renamed' }));
    expect(state.conversations.map((c) => c.id)).to.deep.equal(['a', 'n', 'b']);
    expect(conversation(state, 'b').name).to.equal('Renamed');
    state = R.upsertConversation(state, conv('b', { lastMessageAt: T0 + 1 }));
    expect(state.conversations.map((c) => c.id)).to.deep.equal(['b', 'a', 'n']);
  });

  it('removeConversation drops the conversation, its messages, its receipts and the selection', () => {
    let state = signedIn([conv('c1'), conv('c2')], { c1: [own({ id: 'mine', createdAt: T0 })], c2: [] });
    state = R.messagesRead(state, { conversationId: 'c1', userId: 'u-anna', messageIds: ['mine'] });
    state = R.setActive(state, 'c1');
    const next = R.removeConversation(state, 'c1');
    expect(next.conversations.map((c) => c.id)).to.deep.equal(['c2']);
    expect(next.messages.has('c1')).to.equal(false);
    expect(next.messages.has('c2')).to.equal(true);
    expect(next.reads.has('c1')).to.equal(false);
    expect(next.activeId).to.equal(undefined);
    // The original is untouched (immutability).
    expect(state.messages.has('c1')).to.equal(true);
    // Another active conversation stays selected; an unknown id is a no-op.
    expect(R.removeConversation(R.setActive(state, 'c2'), 'c1').activeId).to.equal('c2');
    expect(R.removeConversation(next, 'nope')).to.equal(next);
  });

  it('setActive and markedRead return the same state when nothing changes', () => {
    const state = signedIn([conv('c1', { unreadCount: 0 })]);
    expect(R.setActive(state, undefined)).to.equal(state);
    expect(R.markedRead(state, 'c1')).to.equal(state);
    expect(R.markedRead(state, 'unknown')).to.equal(state);
    const unread = R.upsertConversation(state, conv('c1', { unreadCount: 4 }));
    expect(conversation(R.markedRead(unread, 'c1')).unreadCount).to.equal(0);
  });

  it('keeps the identity of untouched conversations (Lit re-renders only what changed)', () => {
    const state = signedIn([conv('a', { lastMessageAt: T0 }), conv('b', { lastMessageAt: T0 - 1 })]);
    const next = R.receiveMessage(state, msg({ id: 'm', conversationId: 'a', createdAt: T0 + 1 }), false);
    expect(conversation(next, 'b')).to.equal(conversation(state, 'b'));
    expect(conversation(next, 'a')).to.not.equal(conversation(state, 'a'));
  });
});

// ---- reducers: message lists and events ---------------------------------------------------------

describe('desktop renderer: message list reducers', () => {
  it('messageList answers EMPTY_LIST for a conversation never opened', () => {
    expect(R.messageList(initialState(), 'x')).to.equal(EMPTY_LIST);
  });

  it('applyCached marks loaded; applySynced marks synced and updates the preview to the newest message', () => {
    let state = signedIn([conv('c1', { lastMessageAt: T0 - 10 })]);
    state = R.applyCached(state, 'c1', [msg({ id: 'a', createdAt: T0 - 10 })]);
    expect(R.messageList(state, 'c1')).to.include({ loaded: true, synced: false });
    state = R.applySynced(state, 'c1', [msg({ id: 'c', createdAt: T0 + 5 }), msg({ id: 'b', createdAt: T0 })]);
    expect(R.messageList(state, 'c1')).to.include({ loaded: true, synced: true });
    expect(ids(state)).to.deep.equal(['a', 'b', 'c']);
    expect(conversation(state).lastMessage?.id).to.equal('c');
    expect(conversation(state).lastMessageAt).to.equal(T0 + 5);
  });

  it('applyOlder prepends history, clears loading and knows when the beginning was reached', () => {
    let state = signedIn([conv('c1')], { c1: [msg({ id: 'new', createdAt: T0 })] });
    state = R.olderLoading(state, 'c1', true);
    expect(R.messageList(state, 'c1').loadingOlder).to.equal(true);
    expect(R.olderLoading(state, 'c1', true)).to.equal(state);
    const page = [msg({ id: 'o2', createdAt: T0 - 1 }), msg({ id: 'o1', createdAt: T0 - 2 })];
    const full = R.applyOlder(state, 'c1', page, 2);
    expect(ids(full)).to.deep.equal(['o1', 'o2', 'new']);
    expect(R.messageList(full, 'c1')).to.include({ loadingOlder: false, hasOlder: true });
    const short = R.applyOlder(state, 'c1', page.slice(0, 1), 2);
    expect(R.messageList(short, 'c1').hasOlder).to.equal(false);
    expect(R.messageList(R.applyOlder(state, 'c1', [], 50), 'c1').hasOlder).to.equal(false);
  });

  describe('receiveMessage', () => {
    it('appends to an open list, updates the preview, re-sorts the list and counts unread when not viewing', () => {
      let state = signedIn([conv('c1', { lastMessageAt: T0 - 100 }), conv('c2', { lastMessageAt: T0 })], { c1: [] });
      expect(state.conversations.map((c) => c.id)).to.deep.equal(['c2', 'c1']);
      state = R.receiveMessage(state, msg({ id: 'm1', createdAt: T0 + 1 }), false);
      expect(ids(state)).to.deep.equal(['m1']);
      expect(state.conversations.map((c) => c.id)).to.deep.equal(['c1', 'c2']);
      expect(conversation(state)).to.include({ unreadCount: 1, lastMessageAt: T0 + 1 });
      expect(conversation(state).lastMessage?.id).to.equal('m1');
    });

    it('does not count while viewing, own messages, deleted ones or a duplicate delivery', () => {
      const base = signedIn([conv('c1')], { c1: [] });
      expect(conversation(R.receiveMessage(base, msg({ id: 'm' }), true)).unreadCount).to.equal(0);
      expect(conversation(R.receiveMessage(base, own({ id: 'm' }), false)).unreadCount).to.equal(0);
      expect(conversation(R.receiveMessage(base, msg({ id: 'm', deleted: true }), false)).unreadCount).to.equal(0);
      const once = R.receiveMessage(base, msg({ id: 'm' }), false);
      const twice = R.receiveMessage(once, msg({ id: 'm' }), false);
      expect(conversation(twice).unreadCount).to.equal(1);
      expect(ids(twice)).to.deep.equal(['m']);
    });

    it('counts unread and updates the preview of a conversation whose list was never opened', () => {
      let state = signedIn([conv('c1')]);
      state = R.receiveMessage(state, msg({ id: 'm1', createdAt: T0 }), false);
      state = R.receiveMessage(state, msg({ id: 'm1', createdAt: T0 }), false);
      expect(state.messages.has('c1')).to.equal(false);
      expect(conversation(state)).to.include({ unreadCount: 1 });
      expect(conversation(state).lastMessage?.id).to.equal('m1');
    });

    it('an older message (synced late) counts but does not replace a newer preview', () => {
      let state = signedIn([conv('c1')]);
      state = R.receiveMessage(state, msg({ id: 'new', createdAt: T0 }), false);
      state = R.receiveMessage(state, msg({ id: 'old', createdAt: T0 - 1000 }), false);
      expect(conversation(state).lastMessage?.id).to.equal('new');
      expect(conversation(state).unreadCount).to.equal(2);
    });

    it('leaves an unknown conversation alone (the controller fetches it)', () => {
      const state = signedIn([conv('c1')]);
      expect(R.receiveMessage(state, msg({ id: 'm', conversationId: 'c-unknown' }), false)).to.equal(state);
    });
  });

  describe('the optimistic send flow', () => {
    it('addPending shows the optimistic copy at once, as the preview, without an unread badge', () => {
      let state = signedIn([conv('c1', { lastMessageAt: T0 - 100 }), conv('c2', { lastMessageAt: T0 })], { c1: [msg({ id: 'a', createdAt: T0 - 100 })] });
      state = R.addPending(state, local('r1', 'hi', T0 + 1));
      expect(ids(state)).to.deep.equal(['a', localId('r1')]);
      expect(conversation(state).lastMessage?.id).to.equal(localId('r1'));
      expect(conversation(state).unreadCount).to.equal(0);
      expect(state.conversations[0]!.id).to.equal('c1');
    });

    it('confirmPending replaces the optimistic copy in the list and the preview, keeping its render key', () => {
      let state = signedIn([conv('c1')], { c1: [] });
      const optimistic = local('r1', 'hi', T0);
      state = R.addPending(state, optimistic);
      const sent = confirmed('m-1', 'core-1', 'hi', T0 + 50);
      state = R.confirmPending(state, 'r1', sent);
      expect(ids(state)).to.deep.equal(['m-1']);
      expect(R.renderKey(R.messageList(state, 'c1').items[0]!)).to.equal(optimistic.id);
      expect(conversation(state).lastMessage?.id).to.equal('m-1');
      expect(conversation(state).lastMessageAt).to.equal(T0 + 50);
    });

    it('the confirmation event arriving before the send resolves yields one message, not two', () => {
      let state = signedIn([conv('c1')], { c1: [] });
      state = R.addPending(state, local('r1', 'hi', T0));
      const sent = confirmed('m-1', 'core-1', 'hi', T0 + 50);
      state = R.receiveMessage(state, sent, true);
      expect(ids(state)).to.deep.equal(['m-1']);
      state = R.confirmPending(state, 'r1', { ...sent });
      expect(ids(state)).to.deep.equal(['m-1']);
      expect(conversation(state).lastMessage?.id).to.equal('m-1');
      expect(conversation(state).unreadCount).to.equal(0);
    });

    it('a core failure (message_updated of its failed pending copy) replaces the optimistic copy; failPending then changes nothing', () => {
      let state = signedIn([conv('c1')], { c1: [] });
      state = R.addPending(state, local('r1', 'hi', T0));
      state = R.updateMessage(state, corePending('core-1', 'hi', T0 + 1, { status: 'failed' }));
      expect(ids(state)).to.deep.equal([pendingId('core-1')]);
      expect(conversation(state).lastMessage?.status).to.equal('failed');
      expect(R.failPending(state, 'c1', 'r1')).to.equal(state);
    });

    it('failPending marks the optimistic copy failed when no core copy showed up', () => {
      let state = signedIn([conv('c1')], { c1: [] });
      state = R.addPending(state, local('r1', 'hi', T0));
      state = R.failPending(state, 'c1', 'r1');
      expect(R.messageList(state, 'c1').items[0]).to.include({ id: localId('r1'), status: 'failed' });
      expect(conversation(state).lastMessage?.status).to.equal('failed');
    });

    it('setStatus only touches unconfirmed messages and only when the status differs', () => {
      const state = signedIn([conv('c1')], { c1: [msg({ id: 'm-sent' }), local('r1', 'x', T0, { status: 'failed' })] });
      expect(R.setStatus(state, 'c1', 'm-sent', 'failed')).to.equal(state);
      expect(R.setStatus(state, 'c1', localId('r1'), 'failed')).to.equal(state);
      expect(R.setStatus(state, 'c1', 'missing', 'pending')).to.equal(state);
      const retrying = R.setStatus(state, 'c1', localId('r1'), 'pending');
      expect(R.messageList(retrying, 'c1').items.find((m) => m.id === localId('r1'))?.status).to.equal('pending');
    });

    it('dropLocal removes the optimistic copy and falls back to the previous message as the preview', () => {
      let state = signedIn([conv('c1')], { c1: [msg({ id: 'before', createdAt: T0 - 1 })] });
      state = R.addPending(state, local('r1', 'hi', T0));
      state = R.failPending(state, 'c1', 'r1');
      const dropped = R.dropLocal(state, 'c1', localId('r1'));
      expect(ids(dropped)).to.deep.equal(['before']);
      expect(conversation(dropped).lastMessage?.id).to.equal('before');
      // Only optimistic copies can be dropped.
      expect(R.dropLocal(state, 'c1', 'before')).to.equal(state);
    });

    it('dropLocal of the only message leaves no preview', () => {
      let state = signedIn([conv('c1')], { c1: [] });
      state = R.addPending(state, local('r1', 'hi', T0));
      const dropped = R.dropLocal(state, 'c1', localId('r1'));
      expect(conversation(dropped)).to.not.have.property('lastMessage');
    });

    it('a retried core send: the preview follows the confirmation of the core pending copy via message_updated', () => {
      let state = signedIn([conv('c1')], { c1: [] });
      state = R.addPending(state, local('r1', 'hi', T0));
      state = R.updateMessage(state, corePending('core-1', 'hi', T0 + 1, { status: 'failed' }));
      state = R.setStatus(state, 'c1', pendingId('core-1'), 'pending');
      state = R.updateMessage(state, confirmed('m-1', 'core-1', 'hi', T0 + 5));
      expect(ids(state)).to.deep.equal(['m-1']);
      expect(conversation(state).lastMessage?.id).to.equal('m-1');
    });

    // The preview is the newest message in the timeline's order (a copy still being sent sorts
    // last), and a confirmation by clientMsgId replaces the pending copy in the list and in the
    // preview, whichever path reports it: the `message` event (receiveMessage), the retry's answer
    // (confirmPending with the core's id), message_updated or the core's conversation list.
    it('a retried send confirmed through the `message` event / confirmPending replaces the pending preview', () => {
      let state = signedIn([conv('c1', { lastMessageAt: T0 - 10 }), conv('c2', { lastMessageAt: T0 + 30_000 })], { c1: [] });
      state = R.addPending(state, local('r1', 'hi', T0));
      state = R.updateMessage(state, corePending('core-1', 'hi', T0 + 1, { status: 'failed' }));
      state = R.setStatus(state, 'c1', pendingId('core-1'), 'pending');
      const sent = confirmed('m-1', 'core-1', 'hi', T0 + 5);
      state = R.receiveMessage(state, sent, true);
      state = R.confirmPending(state, 'core-1', sent);
      expect(ids(state)).to.deep.equal(['m-1']);
      expect(conversation(state).lastMessage?.id).to.equal('m-1');
      // And the next message from the peer becomes the preview and moves the conversation up.
      state = R.receiveMessage(state, msg({ id: 'reply', createdAt: T0 + 60_000 }), false);
      expect(conversation(state).lastMessage?.id).to.equal('reply');
      expect(conversation(state).lastMessageAt).to.equal(T0 + 60_000);
      expect(state.conversations.map((c) => c.id)).to.deep.equal(['c1', 'c2']);
    });

    it('a pending preview synced from the outbox is replaced by its confirmation (same cause as above)', () => {
      let state = signedIn([conv('c1')], { c1: [] });
      state = R.applySynced(state, 'c1', [corePending('core-1', 'queued', T0)]);
      expect(conversation(state).lastMessage?.id).to.equal(pendingId('core-1'));
      state = R.receiveMessage(state, confirmed('m-1', 'core-1', 'queued', T0 + 5), false);
      expect(conversation(state).lastMessage?.id).to.equal('m-1');
    });

    // A confirmed own message adopts the optimistic copy with its clientMsgId if there is one, else
    // one with the same content: a copy still being sent before a failed one, then the closest in
    // time, within ADOPT_WINDOW_MS. Re-typing the same text after a failed send must not swallow
    // the failed copy.
    it('a confirmation adopts the in-flight optimistic copy, not an older failed one with the same text', () => {
      let state = signedIn([conv('c1')], { c1: [] });
      state = R.addPending(state, local('r1', 'ok', T0 - 3_600_000));
      state = R.failPending(state, 'c1', 'r1');
      state = R.addPending(state, local('r2', 'ok', T0));
      state = R.receiveMessage(state, confirmed('m-2', 'core-2', 'ok', T0 + 10), true);
      expect(ids(state)).to.deep.equal([localId('r1'), 'm-2']);
    });

    it('the retry answer alone (confirmPending with the core id) replaces the pending preview', () => {
      let state = signedIn([conv('c1')], { c1: [] });
      state = R.addPending(state, local('r1', 'hi', T0));
      state = R.updateMessage(state, corePending('core-1', 'hi', T0 + 1, { status: 'failed' }));
      state = R.setStatus(state, 'c1', pendingId('core-1'), 'pending');
      expect(conversation(state).lastMessage?.id).to.equal(pendingId('core-1'));
      state = R.confirmPending(state, 'core-1', confirmed('m-1', 'core-1', 'hi', T0 + 5));
      expect(ids(state)).to.deep.equal(['m-1']);
      expect(conversation(state).lastMessage?.id).to.equal('m-1');
      expect(conversation(state).lastMessageAt).to.equal(T0 + 5);
      expect(R.renderKey(R.messageList(state, 'c1').items[0]!)).to.equal(localId('r1'));
    });

    it('a confirmation replaces the pending preview of a conversation whose list is not open', () => {
      let state = signedIn([conv('c1', { lastMessage: corePending('core-1', 'queued', T0), lastMessageAt: T0 })]);
      state = R.receiveMessage(state, confirmed('m-1', 'core-1', 'queued', T0 + 5), false);
      expect(conversation(state).lastMessage?.id).to.equal('m-1');
      expect(conversation(state).lastMessageAt).to.equal(T0 + 5);
      expect(conversation(state).unreadCount).to.equal(0);
    });

    it('while an own message is still sending it stays the preview, but the conversation moves up', () => {
      let state = signedIn([conv('c1', { lastMessageAt: T0 - 10 }), conv('c2', { lastMessageAt: T0 + 30_000 })], { c1: [] });
      state = R.addPending(state, local('r1', 'hi', T0));
      state = R.receiveMessage(state, msg({ id: 'reply', createdAt: T0 + 60_000 }), false);
      // The timeline's order: the copy still being sent stays last, so it is the preview.
      expect(ids(state)).to.deep.equal(['reply', localId('r1')]);
      expect(conversation(state).lastMessage?.id).to.equal(localId('r1'));
      expect(conversation(state).lastMessageAt).to.equal(T0 + 60_000);
      expect(conversation(state).unreadCount).to.equal(1);
      expect(state.conversations.map((c) => c.id)).to.deep.equal(['c1', 'c2']);
      // Confirmed (server time before the reply): the reply is the newest now.
      state = R.confirmPending(state, 'r1', confirmed('m-1', 'core-1', 'hi', T0 + 5));
      expect(ids(state)).to.deep.equal(['m-1', 'reply']);
      expect(conversation(state).lastMessage?.id).to.equal('reply');
    });

    it('a send that fails while a newer message arrived gives the preview to the newer message', () => {
      let state = signedIn([conv('c1')], { c1: [] });
      state = R.addPending(state, local('r1', 'hi', T0));
      state = R.receiveMessage(state, msg({ id: 'reply', createdAt: T0 + 60_000 }), true);
      expect(conversation(state).lastMessage?.id).to.equal(localId('r1'));
      state = R.failPending(state, 'c1', 'r1');
      expect(ids(state)).to.deep.equal([localId('r1'), 'reply']);
      expect(conversation(state).lastMessage?.id).to.equal('reply');
      // Retried: sending again, it sorts last and is the preview again.
      state = R.setStatus(state, 'c1', localId('r1'), 'pending');
      expect(conversation(state).lastMessage?.id).to.equal(localId('r1'));
    });

    it('a pending copy reported after its confirmation never becomes the preview again', () => {
      let state = signedIn([conv('c1')], { c1: [] });
      state = R.receiveMessage(state, confirmed('m-1', 'core-1', 'hi', T0), true);
      state = R.receiveMessage(state, msg({ id: 'reply', createdAt: T0 + 10 }), true);
      const next = R.updateMessage(state, corePending('core-1', 'hi', T0 - 1));
      expect(ids(next)).to.deep.equal(['m-1', 'reply']);
      expect(conversation(next).lastMessage?.id).to.equal('reply');
      expect(conversation(next)).to.equal(conversation(state));
    });

    it('applyConversations: the core answer confirming a pending preview wins; an older answer with the pending copy does not undo a confirmation', () => {
      let state = signedIn([conv('c1')], { c1: [] });
      state = R.applySynced(state, 'c1', [corePending('core-1', 'queued', T0)]);
      const answer = conv('c1', { lastMessage: confirmed('m-1', 'core-1', 'queued', T0 + 5), lastMessageAt: T0 + 5 });
      expect(conversation(R.applyConversations(state, [answer])).lastMessage?.id).to.equal('m-1');
      state = R.receiveMessage(state, confirmed('m-1', 'core-1', 'queued', T0 + 5), true);
      const stale = conv('c1', { lastMessage: corePending('core-1', 'queued', T0), lastMessageAt: T0 });
      const next = conversation(R.applyConversations(state, [stale]));
      expect(next.lastMessage?.id).to.equal('m-1');
      expect(next.lastMessageAt).to.equal(T0 + 5);
    });
  });

  describe('message_updated / message_deleted', () => {
    it('updateMessage replaces the copy in the list and the preview with the same id', () => {
      let state = signedIn([conv('c1')], { c1: [] });
      state = R.receiveMessage(state, msg({ id: 'm', text: 'v1' }), true);
      state = R.updateMessage(state, msg({ id: 'm', text: 'v2', extra: { edited: true } }));
      expect(R.messageList(state, 'c1').items.map((m) => m.text)).to.deep.equal(['v2']);
      expect(conversation(state).lastMessage?.text).to.equal('v2');
    });

    it('updateMessage does not touch the preview when it shows another message, nor the unread count', () => {
      let state = signedIn([conv('c1')]);
      state = R.receiveMessage(state, msg({ id: 'old', createdAt: T0 - 1 }), false);
      state = R.receiveMessage(state, msg({ id: 'new', createdAt: T0 }), false);
      const next = R.updateMessage(state, msg({ id: 'old', createdAt: T0 - 1, text: 'edited' }));
      expect(conversation(next)).to.equal(conversation(state));
      expect(conversation(next).unreadCount).to.equal(2);
    });

    it('deleteMessage marks the message deleted in the list and the preview, keeping the order', () => {
      let state = signedIn([conv('c1')], { c1: [msg({ id: 'a', createdAt: T0 - 1 })] });
      state = R.receiveMessage(state, msg({ id: 'b', createdAt: T0, text: 'oops' }), true);
      state = R.deleteMessage(state, 'c1', 'b');
      expect(ids(state)).to.deep.equal(['a', 'b']);
      expect(R.messageList(state, 'c1').items[1]).to.include({ deleted: true, text: '' });
      expect(conversation(state).lastMessage).to.include({ id: 'b', deleted: true, text: '' });
      expect(R.deleteMessage(state, 'c1', 'b')).to.equal(state);
    });

    it('deleteMessage updates the preview of a conversation never opened, and ignores unknown ids', () => {
      let state = signedIn([conv('c1')]);
      state = R.receiveMessage(state, msg({ id: 'b', text: 'oops' }), false);
      const deleted = R.deleteMessage(state, 'c1', 'b');
      expect(conversation(deleted).lastMessage).to.include({ deleted: true, text: '' });
      expect(R.deleteMessage(state, 'c1', 'zzz')).to.equal(state);
    });
  });
});

// ---- reducers: presence and receipts ------------------------------------------------------------

describe('desktop renderer: presence and read receipts', () => {
  it('setOnlineUsers replaces the set; setPresence toggles one user and is a no-op when unchanged', () => {
    let state = R.setOnlineUsers(initialState(), ['a', 'b', 'a']);
    expect([...state.online].sort()).to.deep.equal(['a', 'b']);
    expect(R.setPresence(state, 'a', true)).to.equal(state);
    expect(R.setPresence(state, 'z', false)).to.equal(state);
    const before = state.online;
    state = R.setPresence(state, 'c', true);
    expect(state.online.has('c')).to.equal(true);
    expect(before.has('c')).to.equal(false);
    state = R.setPresence(state, 'a', false);
    expect([...state.online].sort()).to.deep.equal(['b', 'c']);
  });

  it('records the newest own message another member read, and readByOthers follows it', () => {
    const mine1 = own({ id: 'mine1', createdAt: T0 });
    const mine2 = own({ id: 'mine2', createdAt: T0 + 10 });
    const theirs = msg({ id: 'theirs', createdAt: T0 + 20 });
    let state = signedIn([conv('c1')], { c1: [mine1, mine2, theirs] });
    expect(R.readByOthers(state, mine1)).to.equal(false);
    state = R.messagesRead(state, { conversationId: 'c1', userId: 'u-anna', messageIds: ['mine1'] });
    expect(state.reads.get('c1')?.get('u-anna')).to.equal(T0);
    expect(R.readByOthers(state, mine1)).to.equal(true);
    expect(R.readByOthers(state, mine2)).to.equal(false);
    state = R.messagesRead(state, { conversationId: 'c1', userId: 'u-anna', messageIds: ['mine2'] });
    expect(R.readByOthers(state, mine2)).to.equal(true);
  });

  it('ignores receipts that move nothing: older reads, someone else’s messages, unknown ids', () => {
    const mine1 = own({ id: 'mine1', createdAt: T0 });
    const mine2 = own({ id: 'mine2', createdAt: T0 + 10 });
    let state = signedIn([conv('c1')], { c1: [mine1, mine2, msg({ id: 'theirs', createdAt: T0 + 20 })] });
    state = R.messagesRead(state, { conversationId: 'c1', userId: 'u-anna', messageIds: ['mine2'] });
    expect(R.messagesRead(state, { conversationId: 'c1', userId: 'u-anna', messageIds: ['mine1'] })).to.equal(state);
    expect(R.messagesRead(state, { conversationId: 'c1', userId: 'u-bob', messageIds: ['theirs'] })).to.equal(state);
    expect(R.messagesRead(state, { conversationId: 'c1', userId: 'u-bob', messageIds: ['nope'] })).to.equal(state);
    expect(R.messagesRead(state, { conversationId: 'c-unloaded', userId: 'u-bob', messageIds: ['mine1'] })).to.equal(state);
  });

  it('our own read on another device lowers the unread count, never below zero', () => {
    let state = signedIn([conv('c1', { unreadCount: 3 })]);
    state = R.messagesRead(state, { conversationId: 'c1', userId: SELF.userId, messageIds: ['x', 'y'] });
    expect(conversation(state).unreadCount).to.equal(1);
    state = R.messagesRead(state, { conversationId: 'c1', userId: SELF.userId, messageIds: ['a', 'b', 'c'] });
    expect(conversation(state).unreadCount).to.equal(0);
    expect(state.reads.size).to.equal(0);
    expect(R.messagesRead(state, { conversationId: 'c1', userId: SELF.userId, messageIds: ['z'] })).to.equal(state);
  });

  it('readByOthers is false for a conversation without receipts', () => {
    expect(R.readByOthers(initialState(), own({ id: 'x' }))).to.equal(false);
  });
});
