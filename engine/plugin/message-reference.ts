/**
 * Message references as the terminal client shows them: every printed message has a number
 * (`#12`), and commands — the core ones and plugins' — take `#12`, `12`, or a message id. The
 * terminal resolves them (TerminalCommandContext.resolveMessage); these helpers are the one
 * parser behind it, for plugins that echo a reference back or check one before resolving it.
 */

/** A message number as the terminal shows it (`#12` or `12`), or undefined when it is not one. */
export function parseMessageNumber(reference: string): number | undefined {
  const match = /^#?(\d{1,9})$/.exec(reference.trim());
  if (!match) return undefined;
  const value = Number(match[1]);
  return value >= 1 ? value : undefined;
}

/** How to name a referenced message back to the user: `#12` for `12` or `#12`, otherwise `the message`. */
export function messageReferenceLabel(reference: string): string {
  const number = parseMessageNumber(reference);
  return number !== undefined ? `#${number}` : 'the message';
}
