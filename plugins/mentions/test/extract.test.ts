/**
 * Mention extraction (pure): usernames and their character set, ends of mentions, addresses,
 * code spans, duplicates, shared usernames, case, @all/@here, payload fields read defensively.
 */
import { expect } from 'chai';
import { codeSpans, extract, findMentions, mentionFields, mentionTokens, payloadMentions, timeOfMessageId } from '../extract.js';

const BOB = 'b0b00000-0000-4000-8000-000000000001';
const BOB2 = 'b0b00000-0000-4000-8000-000000000002';
const CAROL = 'ca000000-0000-4000-8000-000000000003';
const DOTTY = 'd0000000-0000-4000-8000-000000000004';
const ALL = 'a1100000-0000-4000-8000-000000000005';

const members = new Map([
  [BOB, 'bob'],
  [CAROL, 'Carol_M'],
  [DOTTY, 'dot.ty-2'],
]);

describe('mentions: extraction', () => {
  it('finds members named after @ and returns their ids in order of first mention', () => {
    expect(extract('@Carol_M and @bob, see this', members)).to.deep.equal({ userIds: [CAROL, BOB], everyone: false });
  });

  it('deduplicates a member mentioned twice', () => {
    expect(extract('@bob @bob @BOB', members).userIds).to.deep.equal([BOB]);
  });

  it('compares names without regard to case and keeps the text as written', () => {
    const [found] = findMentions('hi @BoB!', members);
    expect(found).to.include({ text: '@BoB', name: 'bob', index: 3 });
    expect(found!.userIds).to.deep.equal([BOB]);
  });

  it('mentions every member sharing a username', () => {
    const shared = new Map([...members, [BOB2, 'Bob']]);
    expect(extract('ping @bob', shared).userIds).to.have.members([BOB, BOB2]);
  });

  it('ends a mention at the first character outside [A-Za-z0-9._-]', () => {
    expect(extract("@bob's idea", members).userIds).to.deep.equal([BOB]);
    expect(extract('(@bob)', members).userIds).to.deep.equal([BOB]);
    expect(extract('@bob,@Carol_M', members).userIds).to.deep.equal([BOB, CAROL]);
    expect(extract('@bob\n@dot.ty-2', members).userIds).to.deep.equal([BOB, DOTTY]);
    expect(extract('@bobby', members).userIds).to.deep.equal([]);
  });

  it('drops sentence punctuation after a name, but not inside one', () => {
    expect(extract('thanks @bob.', members).userIds).to.deep.equal([BOB]);
    expect(extract('thanks @bob...', members).userIds).to.deep.equal([BOB]);
    expect(extract('ask @dot.ty-2.', members).userIds).to.deep.equal([DOTTY]);
    expect(extract('@bob.smith is someone else', members).userIds).to.deep.equal([]);
  });

  it('ignores addresses and other @ inside words', () => {
    expect(extract('mail bob@example.com', members).userIds).to.deep.equal([]);
    expect(extract('a@bob.c', members).userIds).to.deep.equal([]);
    expect(extract('@bob@example.com', members).userIds).to.deep.equal([]);
    expect(extract('x.@bob', members).userIds).to.deep.equal([]);
    expect(extract('@@bob', members).userIds).to.deep.equal([]);
    expect(extract('@ bob', members).userIds).to.deep.equal([]);
    expect(extract('@', members).userIds).to.deep.equal([]);
  });

  it('respects the 32-character limit of usernames', () => {
    const long = 'a'.repeat(32);
    const longer = 'a'.repeat(33);
    const roster = new Map([[BOB, long], [CAROL, longer]]);
    expect(extract(`@${long}`, roster).userIds).to.deep.equal([BOB]);
    expect(extract(`@${longer}`, roster).userIds).to.deep.equal([]);
  });

  it('ignores mentions inside code spans and fenced code, not around them', () => {
    expect(extract('`@bob` and @Carol_M', members).userIds).to.deep.equal([CAROL]);
    expect(extract('```\nping @bob\n``` @dot.ty-2', members).userIds).to.deep.equal([DOTTY]);
    expect(extract('``a ` @bob``', members).userIds).to.deep.equal([]);
    // An unmatched backtick is ordinary text.
    expect(extract('it`s @bob', members).userIds).to.deep.equal([BOB]);
    expect(codeSpans('a `b` c ``d`` `e')).to.deep.equal([
      [2, 5],
      [8, 13],
    ]);
  });

  it('recognises @all and @here (any case) as everyone', () => {
    expect(extract('@all lunch?', members)).to.deep.equal({ userIds: [], everyone: true });
    expect(extract('@HERE lunch?', members).everyone).to.equal(true);
    expect(extract('@allison', members).everyone).to.equal(false);
    expect(extract('`@all`', members).everyone).to.equal(false);
  });

  it('counts a member called "all" as mentioned by @all too', () => {
    const roster = new Map([...members, [ALL, 'all']]);
    expect(extract('@all', roster)).to.deep.equal({ userIds: [ALL], everyone: true });
  });

  it('finds nothing in text without @ or with no members', () => {
    expect(extract('no mentions here', members)).to.deep.equal({ userIds: [], everyone: false });
    expect(extract('@bob', new Map()).userIds).to.deep.equal([]);
    expect(extract('', members).userIds).to.deep.equal([]);
  });

  it('lists mention-shaped tokens whoever the members are', () => {
    expect(mentionTokens('hi @zed, @bob. and x@y.z `@no`').map((t) => t.text)).to.deep.equal(['@zed', '@bob']);
  });

  it('reads payload fields defensively', () => {
    expect(mentionFields({ mentions: [BOB, 3, null, CAROL], mentions_all: 'yes' })).to.deep.equal({ userIds: [BOB, CAROL], everyone: false });
    expect(mentionFields({ mentions: 'bob' })).to.deep.equal({ userIds: [], everyone: false });
    expect(mentionFields(undefined)).to.deep.equal({ userIds: [], everyone: false });
    expect(payloadMentions({ mentions: [BOB] }, BOB)).to.equal(true);
    expect(payloadMentions({ mentions: [BOB] }, CAROL)).to.equal(false);
    expect(payloadMentions({ mentions_all: true }, CAROL)).to.equal(true);
  });

  it('reads the time out of UUIDv7 message ids only', () => {
    const ms = Date.UTC(2025, 0, 2, 3, 4, 5);
    const hex = ms.toString(16).padStart(12, '0');
    expect(timeOfMessageId(`${hex.slice(0, 8)}-${hex.slice(8)}-7abc-8def-0123456789ab`)).to.equal(ms);
    expect(timeOfMessageId(BOB)).to.equal(undefined);
    expect(timeOfMessageId('pending:1')).to.equal(undefined);
  });
});
