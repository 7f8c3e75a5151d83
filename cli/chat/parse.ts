/**
 * Parsing of what the user types in the chat: plain text is a message, `/name args` is a
 * command, `//text` sends a message that starts with a slash. Arguments are split on white
 * space; double or single quotes keep spaces together (`/group "Team chat" bob@example.org`).
 */

export type ParsedInput =
  | { readonly kind: 'empty' }
  | { readonly kind: 'text'; readonly text: string }
  | {
      readonly kind: 'command';
      /** Lower-cased command name without the slash. */
      readonly name: string;
      readonly args: string[];
      /** The raw text after the command name (for commands whose last argument is free text). */
      readonly rest: string;
    };

export function parseInput(line: string): ParsedInput {
  const text = line.replace(/[\r\n]+$/, '');
  if (text.trim() === '') return { kind: 'empty' };
  const trimmedStart = text.trimStart();
  if (trimmedStart.startsWith('//')) return { kind: 'text', text: trimmedStart.slice(1) };
  if (!trimmedStart.startsWith('/')) return { kind: 'text', text };
  const body = trimmedStart.slice(1);
  const match = /^(\S*)\s*([\s\S]*)$/.exec(body)!;
  const rest = match[2]!.trimEnd();
  return { kind: 'command', name: match[1]!.toLowerCase(), args: tokenize(rest), rest };
}

/** Splits on white space; quoted parts ("a b" or 'a b') stay together, a backslash escapes the next character inside quotes. */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let inToken = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i]!;
    if (quote) {
      if (char === '\\' && i + 1 < text.length && (text[i + 1] === quote || text[i + 1] === '\\')) {
        current += text[i + 1];
        i += 1;
      } else if (char === quote) {
        quote = undefined;
      } else {
        current += char;
      }
    } else if (char === '"' || char === "'") {
      quote = char;
      inToken = true;
    } else if (/\s/.test(char)) {
      if (inToken) tokens.push(current);
      current = '';
      inToken = false;
    } else {
      current += char;
      inToken = true;
    }
  }
  if (inToken) tokens.push(current);
  return tokens;
}

/** The first argument and the raw text after it: `#3 see you there` -> [`#3`, `see you there`]. */
export function splitFirst(text: string): [string, string] {
  const match = /^\s*(\S+)\s*([\s\S]*)$/.exec(text);
  return match ? [match[1]!, match[2]!] : ['', ''];
}

// Message references (`#12`, `12`): one parser for the core commands and plugins' (kecalek/plugin).
export { parseMessageNumber, messageReferenceLabel } from '../../engine/plugin/message-reference.js';

/** A list position (`3`), or undefined. */
export function parseIndex(reference: string): number | undefined {
  const match = /^(\d{1,6})$/.exec(reference.trim());
  if (!match) return undefined;
  const value = Number(match[1]);
  return value >= 1 ? value : undefined;
}

/** Edit distance counting a swap of two neighbouring characters as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

/** The known names closest to a mistyped one: one edit for short names, two for longer ones, or names it begins. */
export function suggest(name: string, known: readonly string[]): string[] {
  const allowed = name.length <= 4 ? 1 : 2;
  const scored = known
    .map((candidate) => ({ candidate, distance: name.length >= 2 && candidate.startsWith(name) ? 0 : editDistance(name, candidate) }))
    .filter((entry) => entry.distance <= allowed)
    .sort((a, b) => a.distance - b.distance || a.candidate.localeCompare(b.candidate));
  return scored.slice(0, 3).map((entry) => entry.candidate);
}
