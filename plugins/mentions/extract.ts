/**
 * Finding `@username` mentions in message text. Pure functions, shared by the outgoing tap (which
 * turns mentions into user ids), the terminal decorator (which highlights them) and autocomplete.
 *
 * The rules:
 * - a mention is `@` followed by a username: 1-32 characters of [A-Za-z0-9._-]; it ends at the first
 *   character outside that set;
 * - the `@` must start the text or follow a character outside that set, and the name must not be
 *   followed by another `@`: `bob@example.com` and `@bob@example.com` are addresses, not mentions;
 * - trailing `.`, `_` and `-` that end a sentence are dropped when the longer name is nobody's
 *   (`thanks @bob.` mentions bob; `@bob.smith` mentions bob.smith, or nobody);
 * - names compare without regard to case (`@Bob` mentions bob); usernames are not unique, so a
 *   name mentions every member with that username;
 * - `@all` and `@here` mention everyone (the caller decides where that applies: groups);
 * - nothing inside code spans counts: text between a run of backticks and the next run of the same
 *   length (`inline`, ```fenced```); an unmatched run of backticks is ordinary text.
 */

export const USERNAME_MAX_LENGTH = 32;
/** The words that mention every member of a group. */
export const EVERYONE_WORDS: readonly string[] = ['all', 'here'];

export interface FoundMention {
  /** The mention as written, `@` included (`@Bob`): what a front end highlights. */
  readonly text: string;
  /** Where `text` starts in the message text. */
  readonly index: number;
  /** The name without `@`, lower-cased. */
  readonly name: string;
  /** Members with this username (ids), possibly several. */
  readonly userIds: readonly string[];
  /** `@all` / `@here`. */
  readonly everyone: boolean;
}

export interface Extracted {
  /** Mentioned members' user ids, in order of first mention, without duplicates. */
  readonly userIds: string[];
  /** The text says `@all` or `@here`. */
  readonly everyone: boolean;
}

function isNameChar(char: string | undefined): boolean {
  return char !== undefined && /^[A-Za-z0-9._-]$/.test(char);
}

function isTrailingPunctuation(char: string | undefined): boolean {
  return char === '.' || char === '_' || char === '-';
}

/** The [start, end) ranges of code spans: a run of N backticks up to the next run of exactly N. */
export function codeSpans(text: string): Array<[number, number]> {
  const runs: Array<{ start: number; length: number }> = [];
  for (let i = 0; i < text.length; ) {
    if (text[i] !== '`') {
      i += 1;
      continue;
    }
    let j = i;
    while (text[j] === '`') j += 1;
    runs.push({ start: i, length: j - i });
    i = j;
  }
  const spans: Array<[number, number]> = [];
  for (let r = 0; r < runs.length; r += 1) {
    const open = runs[r]!;
    const closeIndex = runs.findIndex((run, index) => index > r && run.length === open.length);
    if (closeIndex < 0) continue; // unmatched: literal backticks
    const close = runs[closeIndex]!;
    spans.push([open.start, close.start + close.length]);
    r = closeIndex;
  }
  return spans;
}

/** Lower-cased username -> member ids. */
function indexMembers(members: ReadonlyMap<string, string>): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const [userId, username] of members) {
    const key = username.toLowerCase();
    const ids = byName.get(key);
    if (ids) ids.push(userId);
    else byName.set(key, [userId]);
  }
  return byName;
}

interface Token {
  readonly text: string;
  readonly index: number;
  readonly name: string;
}

/**
 * The mention-shaped tokens of `text` (outside code spans, not addresses). For each, the longest
 * name `accept` takes is kept, dropping sentence punctuation at its end one character at a time.
 */
function scan(text: string, accept: (name: string) => boolean): Token[] {
  if (typeof text !== 'string' || !text.includes('@')) return [];
  const spans = codeSpans(text);
  const found: Token[] = [];
  let spanIndex = 0;
  for (let at = text.indexOf('@'); at >= 0; at = text.indexOf('@', at + 1)) {
    while (spanIndex < spans.length && spans[spanIndex]![1] <= at) spanIndex += 1;
    const span = spans[spanIndex];
    if (span && span[0] <= at && at < span[1]) continue;
    const before = at > 0 ? text[at - 1] : undefined;
    if (isNameChar(before) || before === '@') continue;
    let end = at + 1;
    while (isNameChar(text[end])) end += 1;
    if (end === at + 1 || text[end] === '@') continue;
    for (let stop = end; stop > at + 1; stop -= 1) {
      const written = text.slice(at + 1, stop);
      if (written.length <= USERNAME_MAX_LENGTH && accept(written.toLowerCase())) {
        found.push({ text: `@${written}`, index: at, name: written.toLowerCase() });
        break;
      }
      if (!isTrailingPunctuation(text[stop - 1])) break;
    }
  }
  return found;
}

/**
 * Every mention in `text` that names a member (or everyone), in order. `members` maps user id to
 * username (the conversation's members).
 */
export function findMentions(text: string, members: ReadonlyMap<string, string>): FoundMention[] {
  const byName = indexMembers(members);
  return scan(text, (name) => byName.has(name) || EVERYONE_WORDS.includes(name)).map((token) => ({
    ...token,
    userIds: byName.get(token.name) ?? [],
    everyone: EVERYONE_WORDS.includes(token.name),
  }));
}

/**
 * The `@name` tokens of `text` that could be mentions, whoever the members are (sentence
 * punctuation at the end left out): `@bob`, not `bob@example.com`, not inside code spans.
 */
export function mentionTokens(text: string): Array<{ readonly text: string; readonly index: number; readonly name: string }> {
  return scan(text, (name) => !isTrailingPunctuation(name[name.length - 1]));
}

/** The members a text mentions (deduplicated ids) and whether it mentions everyone. */
export function extract(text: string, members: ReadonlyMap<string, string>): Extracted {
  const userIds: string[] = [];
  const seen = new Set<string>();
  let everyone = false;
  for (const mention of findMentions(text, members)) {
    if (mention.everyone) everyone = true;
    for (const id of mention.userIds) {
      if (seen.has(id)) continue;
      seen.add(id);
      userIds.push(id);
    }
  }
  return { userIds, everyone };
}

/** The mention fields of a payload, read defensively (any sender may put anything there). */
export function mentionFields(payload: { readonly [field: string]: unknown } | undefined): { userIds: string[]; everyone: boolean } {
  const raw = payload?.mentions;
  const userIds = Array.isArray(raw) ? raw.filter((id): id is string => typeof id === 'string') : [];
  return { userIds, everyone: payload?.mentions_all === true };
}

/** True when the payload mentions this user (by id, or everyone). */
export function payloadMentions(payload: { readonly [field: string]: unknown } | undefined, userId: string): boolean {
  const fields = mentionFields(payload);
  return fields.everyone || fields.userIds.includes(userId);
}

/**
 * The time encoded in a UUIDv7 message id (its first 48 bits), or undefined for another kind of
 * id. Message ids are time-ordered UUIDv7 (docs/protocol/conversations-messages.md).
 */
export function timeOfMessageId(id: string): number | undefined {
  const match = /^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/i.exec(id);
  if (!match) return undefined;
  return Number.parseInt(`${match[1]}${match[2]}`, 16);
}
