/**
 * The renderer's pure formatting and timeline helpers in Node (no DOM, no Lit). Timestamps are
 * built from local calendar dates, so the tests hold in any time zone; one block switches TZ to
 * check daylight-saving days and restores it afterwards. Locales are passed explicitly.
 */
import { expect } from 'chai';
import type { BridgeConversation, BridgeMessage } from '../shared/bridge.js';
import {
  AVATAR_COLOURS,
  avatarColour,
  conversationPreview,
  conversationStatus,
  daysBetween,
  errorCode,
  errorText,
  foldText,
  formatClock,
  formatDayLabel,
  formatFullTime,
  formatLinkCode,
  formatListTime,
  formatSas,
  initials,
  isEmail,
  messageSummary,
  oneLine,
  sameDay,
  splitEmails,
  svgDataUrl,
} from '../renderer/util/format.js';
import { arrivedAtEnd, RUN_GAP_MS, timelineRows, windowOf, type TimelineRow } from '../renderer/util/timeline.js';

/** A local-time instant (month 1-based). */
const at = (year: number, month: number, day: number, hour = 12, minute = 0): number => new Date(year, month - 1, day, hour, minute).getTime();
const GB = { locale: 'en-GB' };
const MIN = 60_000;

function msg(overrides: Partial<BridgeMessage> & { id: string }): BridgeMessage {
  return {
    conversationId: 'c1',
    senderId: 'u-anna',
    senderUsername: 'anna',
    senderDeviceId: 'd-anna',
    createdAt: at(2024, 3, 11),
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

/** No lone surrogate halves (String#isWellFormed is ES2024, beyond this project's lib). */
const wellFormed = (text: string): boolean => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);

const member = (userId: string, username = userId): BridgeConversation['members'][number] => ({ userId, username, role: 'member', joinedAt: 0 });

// ---- names and avatars --------------------------------------------------------------------------

describe('desktop renderer format: initials and avatar colours', () => {
  it('takes the first letters of the first two words, upper-cased', () => {
    expect(initials('Anna Novak')).to.equal('AN');
    expect(initials('anna maria novak')).to.equal('AM');
    expect(initials('anna')).to.equal('A');
  });

  it('splits usernames on dots, underscores and dashes, ignoring extra separators', () => {
    expect(initials('anna.novak')).to.equal('AN');
    expect(initials('john_doe')).to.equal('JD');
    expect(initials('mary-jane')).to.equal('MJ');
    expect(initials('  __anna  ..  novak__ ')).to.equal('AN');
  });

  it('answers "?" for an empty or separator-only name', () => {
    expect(initials('')).to.equal('?');
    expect(initials('   ')).to.equal('?');
    expect(initials('._-')).to.equal('?');
  });

  it('keeps non-ASCII letters and whole astral characters (no broken surrogate halves)', () => {
    expect(initials('Šárka Černá')).to.equal('ŠČ');
    expect(initials('ßeta')).to.equal('SS');
    const emoji = initials('😀 Party');
    expect(emoji).to.equal('😀P');
    expect(wellFormed(emoji)).to.equal(true);
    expect(initials('𝒜lice')).to.equal('𝒜');
  });

  it('handles a very long name', () => {
    expect(initials(`${'x'.repeat(10_000)} ${'y'.repeat(10_000)}`)).to.equal('XY');
  });

  it('gives a stable colour index in range, and spreads different keys', () => {
    expect(avatarColour('u-anna')).to.equal(avatarColour('u-anna'));
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const c = avatarColour(`user-${i}`);
      expect(c).to.be.within(0, AVATAR_COLOURS - 1);
      expect(Number.isInteger(c)).to.equal(true);
      seen.add(c);
    }
    expect(seen.size).to.equal(AVATAR_COLOURS);
    expect(avatarColour('', 3)).to.be.within(0, 2);
    expect(avatarColour('anything', 1)).to.equal(0);
  });

  it('is the FNV-1a hash of the key (fixed values, so colours do not change between releases)', () => {
    // FNV-1a 32-bit of "" is 0x811c9dc5 and of "a" is 0xe40c292c.
    expect(avatarColour('', 1 << 30)).to.equal(0x811c9dc5 % (1 << 30));
    expect(avatarColour('a', 0x10000)).to.equal(0xe40c292c % 0x10000);
  });
});

// ---- days and times -----------------------------------------------------------------------------

describe('desktop renderer format: days and times', () => {
  it('counts calendar days in local time, not 24-hour periods', () => {
    expect(daysBetween(at(2024, 3, 11, 23, 59), at(2024, 3, 12, 0, 1))).to.equal(1);
    expect(daysBetween(at(2024, 3, 11, 0, 0), at(2024, 3, 11, 23, 59))).to.equal(0);
    expect(daysBetween(at(2024, 2, 28), at(2024, 3, 1))).to.equal(2); // a leap year
    expect(daysBetween(at(2023, 12, 31), at(2024, 1, 1))).to.equal(1);
    expect(daysBetween(at(2024, 3, 12), at(2024, 3, 11))).to.equal(-1);
    expect(sameDay(at(2024, 3, 11, 0, 0), at(2024, 3, 11, 23, 59))).to.equal(true);
    expect(sameDay(at(2024, 3, 11, 23, 59), at(2024, 3, 12, 0, 0))).to.equal(false);
  });

  describe('across daylight-saving changes (Europe/Prague, America/New_York)', () => {
    const originalTz = process.env.TZ;
    after(() => {
      if (originalTz === undefined) delete process.env.TZ;
      else process.env.TZ = originalTz;
    });

    for (const tz of ['Europe/Prague', 'America/New_York']) {
      it(`counts one day over the short and the long day in ${tz}`, () => {
        process.env.TZ = tz;
        const spring = tz === 'Europe/Prague' ? 31 : 10;
        const springMonth = 3;
        const autumn = tz === 'Europe/Prague' ? [10, 27] : [11, 3];
        // Make sure the zone really changed offset across those days (or the test proves nothing).
        expect(new Date(at(2024, springMonth, spring - 1)).getTimezoneOffset()).to.not.equal(new Date(at(2024, springMonth, spring + 1)).getTimezoneOffset());
        expect(daysBetween(at(2024, springMonth, spring - 1, 0, 30), at(2024, springMonth, spring, 23, 30))).to.equal(1);
        expect(daysBetween(at(2024, springMonth, spring, 0, 30), at(2024, springMonth, spring + 1, 0, 30))).to.equal(1);
        expect(daysBetween(at(2024, autumn[0]!, autumn[1]!, 0, 30), at(2024, autumn[0]!, autumn[1]! + 1, 23, 30))).to.equal(1);
        expect(daysBetween(at(2024, 1, 1), at(2024, 12, 31))).to.equal(365);
        expect(sameDay(at(2024, springMonth, spring, 0, 0), at(2024, springMonth, spring, 23, 59))).to.equal(true);
      });
    }
  });

  it('formatClock uses the locale given', () => {
    const ts = at(2024, 3, 11, 14, 5);
    expect(formatClock(ts, GB)).to.equal('14:05');
    expect(formatClock(ts, { locale: 'en-US' })).to.match(/^02:05\s?PM$/u);
    expect(formatClock(at(2024, 3, 11, 9, 7), GB)).to.equal('09:07');
  });

  describe('formatListTime', () => {
    const now = at(2024, 3, 14, 10, 0); // a Thursday

    it('today: the clock (also for a time later today, e.g. a clock skew)', () => {
      expect(formatListTime(at(2024, 3, 14, 8, 30), now, GB)).to.equal('08:30');
      expect(formatListTime(at(2024, 3, 14, 23, 0), now, GB)).to.equal('23:00');
    });

    it('yesterday, even minutes before midnight compared with just after', () => {
      expect(formatListTime(at(2024, 3, 13, 23, 59), at(2024, 3, 14, 0, 1), GB)).to.equal('Yesterday');
    });

    it('within the last week: the short weekday', () => {
      expect(formatListTime(at(2024, 3, 11), now, GB)).to.equal('Mon');
      expect(formatListTime(at(2024, 3, 8), now, GB)).to.equal('Fri');
    });

    it('a week or more ago: day and month, with the year only for another year', () => {
      expect(formatListTime(at(2024, 3, 7), now, GB)).to.equal('7 Mar');
      expect(formatListTime(at(2024, 1, 1), now, GB)).to.equal('1 Jan');
      expect(formatListTime(at(2023, 3, 14), now, GB)).to.equal('14 Mar 2023');
    });

    it('across New Year: yesterday and this week still win over the year', () => {
      const newYear = at(2024, 1, 2, 9, 0);
      expect(formatListTime(at(2024, 1, 1, 9), newYear, GB)).to.equal('Yesterday');
      expect(formatListTime(at(2023, 12, 29, 9), newYear, GB)).to.equal('Fri');
      expect(formatListTime(at(2023, 12, 20, 9), newYear, GB)).to.equal('20 Dec 2023');
    });

    it('a timestamp on a later day (clock skew) shows the date, as for other days', () => {
      expect(formatListTime(at(2024, 3, 15, 8), now, GB)).to.equal('15 Mar');
      expect(formatListTime(at(2024, 3, 20, 8), now, GB)).to.equal('20 Mar');
      expect(formatListTime(at(2025, 1, 2, 8), now, GB)).to.equal('2 Jan 2025');
    });

    it('says yesterday in the locale given', () => {
      const justAfterMidnight = at(2024, 3, 14, 0, 1);
      expect(formatListTime(at(2024, 3, 13, 23, 59), justAfterMidnight, { locale: 'cs-CZ' })).to.equal('Včera');
      expect(formatListTime(at(2024, 3, 13, 23, 59), justAfterMidnight, { locale: 'de-DE' })).to.equal('Gestern');
      expect(formatListTime(at(2024, 3, 13, 23, 59), justAfterMidnight, { locale: 'en-US' })).to.equal('Yesterday');
    });
  });

  describe('formatDayLabel', () => {
    const now = at(2024, 3, 14, 10, 0);

    it('says Today and Yesterday', () => {
      expect(formatDayLabel(at(2024, 3, 14, 0, 0), now, GB)).to.equal('Today');
      expect(formatDayLabel(at(2024, 3, 13, 23, 59), now, GB)).to.equal('Yesterday');
    });

    it('gives weekday, day and month this year, and the year for another year', () => {
      const thisYear = formatDayLabel(at(2024, 3, 11), now, GB);
      expect(thisYear).to.match(/^Monday,? 11 March$/u);
      const lastYear = formatDayLabel(at(2023, 3, 11), now, GB);
      expect(lastYear).to.match(/^Saturday,? 11 March 2023$/u);
    });

    it('a day in the future is a dated label, not Today/Yesterday', () => {
      expect(formatDayLabel(at(2024, 3, 15), now, GB)).to.match(/^Friday,? 15 March$/u);
    });

    it('honours another locale for the date part', () => {
      expect(formatDayLabel(at(2024, 3, 11), now, { locale: 'de-DE' })).to.equal('Montag, 11. März');
    });

    it('says Today and Yesterday in the locale given, with a capital first letter', () => {
      expect(formatDayLabel(at(2024, 3, 14, 0, 0), now, { locale: 'cs-CZ' })).to.equal('Dnes');
      expect(formatDayLabel(at(2024, 3, 13, 23, 59), now, { locale: 'cs-CZ' })).to.equal('Včera');
      expect(formatDayLabel(at(2024, 3, 14, 9, 0), now, { locale: 'de-DE' })).to.equal('Heute');
      expect(formatDayLabel(at(2024, 3, 13, 9, 0), now, { locale: 'de-DE' })).to.equal('Gestern');
      expect(formatDayLabel(at(2024, 3, 14, 9, 0), now, { locale: 'en-US' })).to.equal('Today');
      expect(formatDayLabel(at(2024, 3, 13, 9, 0), now, { locale: 'en-US' })).to.equal('Yesterday');
    });
  });

  it('formatFullTime has date and time', () => {
    expect(formatFullTime(at(2024, 3, 11, 14, 5), GB)).to.equal('11 Mar 2024, 14:05');
  });
});

// ---- text -----------------------------------------------------------------------------------------

describe('desktop renderer format: one-line text and summaries', () => {
  it('collapses all whitespace, including newlines and tabs, and trims', () => {
    expect(oneLine('  hello\n\n  world\t!  ')).to.equal('hello world !');
    expect(oneLine('')).to.equal('');
    expect(oneLine(' \n\t ')).to.equal('');
  });

  it('cuts at max characters with an ellipsis (the result is exactly max long)', () => {
    const long = 'a'.repeat(200);
    const cut = oneLine(long, 120);
    expect(cut.endsWith('…')).to.equal(true);
    expect(Array.from(cut)).to.have.length(120);
    expect(oneLine('a'.repeat(120), 120)).to.equal('a'.repeat(120));
    expect(oneLine('a'.repeat(121), 120)).to.equal(`${'a'.repeat(119)}…`);
  });

  it('does not leave a space before the ellipsis', () => {
    expect(oneLine('abcd efgh', 6)).to.equal('abcd…');
  });

  it('counts emoji as one character each and never splits a surrogate pair', () => {
    const text = '😀'.repeat(10);
    const cut = oneLine(text, 5);
    expect(cut).to.equal(`${'😀'.repeat(4)}…`);
    expect(wellFormed(cut)).to.equal(true);
    expect(oneLine('😀😀😀', 3)).to.equal('😀😀😀');
  });

  // Cuts and initials count user-perceived characters (grapheme clusters, Intl.Segmenter), not
  // code points: a flag (two regional indicators), a ZWJ family emoji or a letter with a combining
  // accent is one character and is never split.
  it('cuts and initials never split an emoji or accented letter made of several code points', () => {
    expect(oneLine('🇨🇿'.repeat(5), 4)).to.equal(`${'🇨🇿'.repeat(3)}…`);
    expect(oneLine('🇨🇿'.repeat(4), 4)).to.equal('🇨🇿'.repeat(4));
    expect(oneLine(`${'👨‍👩‍👧'.repeat(3)}`, 2)).to.equal('👨‍👩‍👧…');
    expect(oneLine('e\u0301'.repeat(5), 3)).to.equal('e\u0301e\u0301…');
    expect(initials('🇨🇿 team')).to.equal('🇨🇿T');
    expect(initials('e\u0301va novak')).to.equal('E\u0301N');
    expect(initials('👨‍👩‍👧')).to.equal('👨‍👩‍👧');
  });

  it('messageSummary: deleted, undecryptable, empty and normal messages', () => {
    expect(messageSummary({ deleted: true, undecryptable: false, text: 'x' })).to.equal('Message deleted');
    expect(messageSummary({ deleted: false, undecryptable: true, text: '' })).to.equal('Message could not be decrypted');
    expect(messageSummary({ deleted: false, undecryptable: false, text: '   ' })).to.equal('Message');
    expect(messageSummary({ deleted: false, undecryptable: false, text: 'line one\nline two' })).to.equal('line one line two');
    expect(messageSummary({ deleted: false, undecryptable: false, text: 'x'.repeat(50) }, 10)).to.equal(`${'x'.repeat(9)}…`);
  });

  describe('conversationPreview', () => {
    it('with no messages: "Say hello" for a DM, "No messages yet" for a group', () => {
      expect(conversationPreview({ kind: 'dm' })).to.equal('Say hello');
      expect(conversationPreview({ kind: 'group' })).to.equal('No messages yet');
    });

    it('prefixes own messages with "You:" and group messages with the sender', () => {
      expect(conversationPreview({ kind: 'dm', lastMessage: msg({ id: 'm', own: true, text: 'hi' }) })).to.equal('You: hi');
      expect(conversationPreview({ kind: 'group', lastMessage: msg({ id: 'm', own: true, text: 'hi' }) })).to.equal('You: hi');
      expect(conversationPreview({ kind: 'group', lastMessage: msg({ id: 'm', text: 'hi' }) })).to.equal('anna: hi');
      expect(conversationPreview({ kind: 'dm', lastMessage: msg({ id: 'm', text: 'hi' }) })).to.equal('hi');
    });

    it('shows deleted and undecryptable messages without a prefix', () => {
      expect(conversationPreview({ kind: 'group', lastMessage: msg({ id: 'm', own: true, deleted: true }) })).to.equal('Message deleted');
      expect(conversationPreview({ kind: 'group', lastMessage: msg({ id: 'm', undecryptable: true }) })).to.equal('Message could not be decrypted');
    });

    it('keeps a long preview to one line of at most 80 characters', () => {
      const preview = conversationPreview({ kind: 'dm', lastMessage: msg({ id: 'm', text: `${'word '.repeat(100)}\nmore` }) });
      expect(preview).to.not.include('\n');
      expect(Array.from(preview).length).to.be.at.most(80);
      expect(preview.endsWith('…')).to.equal(true);
    });
  });

  describe('conversationStatus', () => {
    const online = new Set(['u-anna', 'u-bob', 'u-me']);

    it('a DM: the peer’s presence (by peerId, else the other member)', () => {
      expect(conversationStatus({ kind: 'dm', peerId: 'u-anna', members: [] }, online, 'u-me')).to.equal('Online');
      expect(conversationStatus({ kind: 'dm', peerId: 'u-zed', members: [] }, online, 'u-me')).to.equal('Offline');
      expect(conversationStatus({ kind: 'dm', members: [member('u-me'), member('u-bob')] }, online, 'u-me')).to.equal('Online');
      expect(conversationStatus({ kind: 'dm', members: [member('u-me'), member('u-zed')] }, online, 'u-me')).to.equal('Offline');
      // Our own presence does not make the peer online.
      expect(conversationStatus({ kind: 'dm', members: [member('u-me')] }, online, 'u-me')).to.equal('Offline');
    });

    it('a group: the member count (singular for one) and how many others are online', () => {
      expect(conversationStatus({ kind: 'group', members: [member('u-me')] }, online, 'u-me')).to.equal('1 member');
      expect(conversationStatus({ kind: 'group', members: [member('u-me'), member('u-anna'), member('u-bob'), member('u-zed')] }, online, 'u-me')).to.equal('4 members, 2 online');
      expect(conversationStatus({ kind: 'group', members: [member('u-me'), member('u-zed')] }, online, 'u-me')).to.equal('2 members');
      expect(conversationStatus({ kind: 'group', members: [] }, online, undefined)).to.equal('0 members');
    });
  });
});

// ---- codes, emails, misc --------------------------------------------------------------------------

describe('desktop renderer format: codes, emails and errors', () => {
  it('formats an 8-digit link code in two groups, whatever separators were typed', () => {
    expect(formatLinkCode('12345678')).to.equal('1234 5678');
    expect(formatLinkCode('1234-5678')).to.equal('1234 5678');
    expect(formatLinkCode('1234567')).to.equal('1234567');
    expect(formatLinkCode('abc')).to.equal('abc');
  });

  it('formats a 6-digit SAS in groups of three, other shapes unchanged', () => {
    expect(formatSas('042917')).to.equal('042 917');
    expect(formatSas('042 917')).to.equal('042 917');
    expect(formatSas('12345')).to.equal('12345');
    expect(formatSas('🐱 🐶 🐭')).to.equal('🐱 🐶 🐭');
  });

  it('recognises plausible email addresses (trimmed)', () => {
    expect(isEmail('anna@example.com')).to.equal(true);
    expect(isEmail('  anna@example.com ')).to.equal(true);
    for (const bad of ['', 'anna', 'anna@', 'anna@example', '@example.com', 'an na@example.com', 'anna@@example.com']) {
      expect(isEmail(bad), bad).to.equal(false);
    }
  });

  it('splits typed addresses on commas, semicolons, spaces and lines, dropping duplicates case-insensitively', () => {
    expect(splitEmails('a@x.io, b@x.io;c@x.io\nd@x.io  e@x.io')).to.deep.equal(['a@x.io', 'b@x.io', 'c@x.io', 'd@x.io', 'e@x.io']);
    expect(splitEmails('A@x.io a@x.io')).to.deep.equal(['A@x.io']);
    expect(splitEmails(' , ;\n')).to.deep.equal([]);
  });

  it('builds an SVG data URL that cannot break out of the attribute', () => {
    const url = svgDataUrl('<svg a="1">#%\n</svg>');
    expect(url.startsWith('data:image/svg+xml;charset=utf-8,')).to.equal(true);
    expect(url).to.not.match(/[<>"#\s]/u);
    expect(decodeURIComponent(url.slice(url.indexOf(',') + 1))).to.equal('<svg a="1">#%\n</svg>');
  });

  it('folds case and accents (composed or decomposed) for filtering', () => {
    expect(foldText('Žluťoučký KŮŇ')).to.equal('zlutoucky kun');
    expect(foldText('Cafe\u0301')).to.equal(foldText('Café'));
    expect(foldText('ﬁ')).to.equal('fi');
    expect(foldText('')).to.equal('');
  });

  it('errorText: a bridge error’s message, else its code, else a string, else a generic text', () => {
    expect(errorText({ code: 'not_found', message: '  No such user ' })).to.equal('No such user');
    expect(errorText({ code: 'rate_limited', message: '   ' })).to.equal('Failed (rate_limited)');
    expect(errorText(new Error('boom'))).to.equal('boom');
    expect(errorText(' plain ')).to.equal('plain');
    for (const nothing of [undefined, null, 42, {}, '', { message: 7 }]) expect(errorText(nothing)).to.equal('Something went wrong');
  });

  it('errorCode: only a string code', () => {
    expect(errorCode({ code: 'not_found' })).to.equal('not_found');
    expect(errorCode({ code: 404 })).to.equal(undefined);
    expect(errorCode('not_found')).to.equal(undefined);
    expect(errorCode(null)).to.equal(undefined);
  });
});

// ---- timeline -------------------------------------------------------------------------------------

describe('desktop renderer timeline: rows, runs and day separators', () => {
  const now = at(2024, 3, 14, 18, 0);
  const shape = (rows: TimelineRow[]): string[] =>
    rows.map((r) => (r.kind === 'day' ? `[${r.label}]` : `${r.message.id}${r.first ? '<' : ''}${r.last ? '>' : ''}`));

  it('an empty list has no rows', () => {
    expect(timelineRows([], now, GB)).to.deep.equal([]);
  });

  it('puts a day separator before the first message and before each new day', () => {
    const rows = timelineRows(
      [
        msg({ id: 'a', createdAt: at(2024, 3, 12, 9) }),
        msg({ id: 'b', createdAt: at(2024, 3, 13, 23, 58) }),
        msg({ id: 'c', createdAt: at(2024, 3, 14, 0, 1) }),
        msg({ id: 'd', createdAt: at(2024, 3, 14, 10) }),
      ],
      now,
      GB,
    );
    const [first, ...rest] = shape(rows);
    expect(first).to.match(/^\[Tuesday,? 12 March\]$/u);
    expect(rest).to.deep.equal(['a<>', '[Yesterday]', 'b<>', '[Today]', 'c<>', 'd<>']);
  });

  it('groups one sender’s messages closer than the run gap into a run', () => {
    const t = at(2024, 3, 14, 10);
    const rows = timelineRows(
      [
        msg({ id: 'a1', createdAt: t }),
        msg({ id: 'a2', createdAt: t + MIN }),
        msg({ id: 'a3', createdAt: t + 2 * MIN }),
        msg({ id: 'b1', senderId: 'u-bob', createdAt: t + 3 * MIN }),
        msg({ id: 'a4', createdAt: t + 4 * MIN }),
        msg({ id: 'a5', createdAt: t + 4 * MIN + RUN_GAP_MS }), // exactly the gap: a new run
        msg({ id: 'a6', createdAt: t + 4 * MIN + 2 * RUN_GAP_MS - 1 }), // just under the gap after a5: joins
      ],
      now,
      GB,
    );
    expect(shape(rows)).to.deep.equal(['[Today]', 'a1<', 'a2', 'a3>', 'b1<>', 'a4<>', 'a5<', 'a6>']);
  });

  it('a run never crosses midnight, even within the gap', () => {
    const rows = timelineRows([msg({ id: 'x', createdAt: at(2024, 3, 13, 23, 59) }), msg({ id: 'y', createdAt: at(2024, 3, 14, 0, 0) })], now, GB);
    expect(shape(rows)).to.deep.equal(['[Yesterday]', 'x<>', '[Today]', 'y<>']);
  });

  it('keys rows with the key function given (render keys), day rows included', () => {
    const rows = timelineRows([msg({ id: 'm1', createdAt: at(2024, 3, 14, 9) })], now, { ...GB, key: (m) => `k-${m.id}` });
    expect(rows.map((r) => r.key)).to.deep.equal(['day-k-m1', 'k-m1']);
    const unique = timelineRows(
      [msg({ id: 'a', createdAt: at(2024, 3, 13, 9) }), msg({ id: 'b', createdAt: at(2024, 3, 14, 9) })],
      now,
      GB,
    ).map((r) => r.key);
    expect(new Set(unique).size).to.equal(unique.length);
  });
});

describe('desktop renderer timeline: windowOf', () => {
  it('keeps the newest `size` items, and the very array when it fits', () => {
    const items = [1, 2, 3, 4, 5];
    expect(windowOf(items, 3)).to.deep.equal([3, 4, 5]);
    expect(windowOf(items, 5)).to.equal(items);
    expect(windowOf(items, 50)).to.equal(items);
    expect(windowOf([], 3)).to.deep.equal([]);
  });

  it('a window of zero shows nothing', () => {
    expect(windowOf([1, 2, 3], 0)).to.deep.equal([]);
  });
});

describe('desktop renderer timeline: arrivedAtEnd', () => {
  const key = (m: { id: string }) => m.id;
  const items = (...list: string[]) => list.map((id) => ({ id }));

  it('reports nothing on the first render of a conversation or for an empty list', () => {
    expect(arrivedAtEnd(undefined, items('a', 'b'), key)).to.deep.equal([]);
    expect(arrivedAtEnd(new Set(['a']), [], key)).to.deep.equal([]);
  });

  it('reports the new messages at the end, oldest first', () => {
    const before = new Set(['a', 'b']);
    expect(arrivedAtEnd(before, items('a', 'b', 'c', 'd'), key).map(key)).to.deep.equal(['c', 'd']);
  });

  it('ignores older history prepended and an unchanged list', () => {
    const before = new Set(['c', 'd']);
    expect(arrivedAtEnd(before, items('a', 'b', 'c', 'd'), key)).to.deep.equal([]);
    expect(arrivedAtEnd(before, items('c', 'd'), key)).to.deep.equal([]);
  });

  it('ignores a pending copy replaced by its confirmed message under the same render key', () => {
    const before = new Set(['a', 'local:r1']);
    const confirmed = [{ id: 'a' }, { id: 'm-1', key: 'local:r1' }];
    expect(arrivedAtEnd(before, confirmed, (m: { id: string; key?: string }) => m.key ?? m.id)).to.deep.equal([]);
  });

  it('reports everything when no rendered message is left (the whole list was replaced)', () => {
    expect(arrivedAtEnd(new Set(['x']), items('a', 'b'), key).map(key)).to.deep.equal(['a', 'b']);
  });

  it('stops at the newest already-rendered message, not the first unknown one', () => {
    // 'gap' is new but sits before a known message: only what follows the last known one counts.
    expect(arrivedAtEnd(new Set(['a', 'b']), items('a', 'gap', 'b', 'c'), key).map(key)).to.deep.equal(['c']);
  });

  // A message still being sent sorts after every confirmed message, so while one is pending, a
  // message from someone else is inserted *before* it; it still counts as arrived (unseen counter,
  // window growth), and the pending copy stays last.
  it('a message arriving before a trailing pending copy still counts as arrived', () => {
    const before = new Set(['a', 'local:r1']);
    expect(arrivedAtEnd(before, items('a', 'new-from-anna', 'local:r1'), key).map(key)).to.deep.equal(['new-from-anna']);
    expect(arrivedAtEnd(new Set(['a', 'pending:c1']), items('a', 'b', 'c', 'pending:c1'), key).map(key)).to.deep.equal(['b', 'c']);
    // Nothing new: the pending copy is still last, or older history came in before everything.
    expect(arrivedAtEnd(before, items('a', 'local:r1'), key)).to.deep.equal([]);
    expect(arrivedAtEnd(before, items('o1', 'a', 'local:r1'), key)).to.deep.equal([]);
    expect(arrivedAtEnd(new Set(['local:r1']), items('o1', 'o2', 'local:r1'), key)).to.deep.equal([]);
  });

  it('a new copy still being sent counts, after what arrived before it', () => {
    const before = new Set(['a', 'local:r1']);
    expect(arrivedAtEnd(before, items('a', 'local:r1', 'local:r2'), key).map(key)).to.deep.equal(['local:r2']);
    expect(arrivedAtEnd(before, items('a', 'b', 'local:r1', 'local:r2'), key).map(key)).to.deep.equal(['b', 'local:r2']);
  });

  it('a failed copy is in time order, not held last', () => {
    const failed = { id: 'local:r1', status: 'failed' };
    expect(arrivedAtEnd(new Set(['a', 'local:r1']), [{ id: 'a' }, failed, { id: 'b' }], key).map(key)).to.deep.equal(['b']);
    expect(arrivedAtEnd(new Set(['a', 'local:r1']), [{ id: 'a' }, { id: 'b' }, failed], key)).to.deep.equal([]);
  });

  it('takes the caller’s notion of “still sending”', () => {
    const before = new Set(['a', 'z']);
    expect(arrivedAtEnd(before, items('a', 'b', 'z'), key, (m) => m.id === 'z').map(key)).to.deep.equal(['b']);
    expect(arrivedAtEnd(before, items('a', 'b', 'z'), key, () => false)).to.deep.equal([]);
  });
});
