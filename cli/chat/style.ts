/**
 * Terminal colours for the chat client. Colour is on only for a terminal and off when NO_COLOR
 * is set (https://no-color.org) or TERM is "dumb", so pipes and logs get plain text.
 */
export interface Style {
  readonly enabled: boolean;
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
  /** A person's name in their stable colour (the same key always gets the same colour). */
  user(name: string, key: string): string;
}

type Wrap = (text: string) => string;

function sgr(open: number, close: number): Wrap {
  return (text) => `\x1b[${open}m${text}\x1b[${close}m`;
}

const plain: Wrap = (text) => text;

/** Foreground colours that read well on dark and light backgrounds; red stays for errors. */
const USER_COLOURS: readonly Wrap[] = [
  sgr(36, 39), // cyan
  sgr(32, 39), // green
  sgr(33, 39), // yellow
  sgr(35, 39), // magenta
  sgr(34, 39), // blue
  sgr(96, 39), // bright cyan
  sgr(92, 39), // bright green
  sgr(95, 39), // bright magenta
  sgr(94, 39), // bright blue
  sgr(93, 39), // bright yellow
];

/** Index into the palette for a key (user id): FNV-1a, stable across runs and machines. */
export function colourIndex(key: string, paletteSize = USER_COLOURS.length): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i += 1) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % paletteSize;
}

export function createStyle(enabled: boolean): Style {
  if (!enabled) {
    return { enabled, bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain, user: (name) => name };
  }
  const bold = sgr(1, 22);
  return {
    enabled,
    bold,
    dim: sgr(2, 22),
    red: sgr(31, 39),
    green: sgr(32, 39),
    yellow: sgr(33, 39),
    cyan: sgr(36, 39),
    user: (name, key) => bold(USER_COLOURS[colourIndex(key)]!(name)),
  };
}

/** Whether to colour output written to `stream` under `env`. */
export function colourWanted(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}
