/**
 * The core commands of the terminal chat and `/help`, which also lists the commands of the
 * plugins the server has enabled.
 */
import { notFoundError } from '../errors.js';
import { suggest } from '../parse.js';
import { accountCommands } from './account.js';
import { conversationCommands } from './conversations.js';
import { deviceCommands } from './devices.js';
import { messageCommands } from './messages.js';
import type { ChatCommand, HelpEntry } from './types.js';

export type { ChatCommand, ChatSession, CommandInput, HelpEntry } from './types.js';

function synopsis(entry: Pick<HelpEntry, 'name' | 'usage'>): string {
  return entry.usage ? `/${entry.name} ${entry.usage}` : `/${entry.name}`;
}

/** `/help` as lines: every command with its synopsis and summary, plugin commands marked with their plugin. */
export function helpLines(entries: readonly HelpEntry[]): string[] {
  const core = entries.filter((entry) => entry.plugin === undefined);
  const plugins = entries.filter((entry) => entry.plugin !== undefined);
  const width = Math.min(30, Math.max(...entries.map((entry) => synopsis(entry).length)) + 2);
  const line = (entry: HelpEntry): string => {
    const head = synopsis(entry);
    const from = entry.plugin ? `  (${entry.plugin})` : '';
    return head.length + 2 > width ? `  ${head}\n  ${' '.repeat(width)}${entry.summary}${from}` : `  ${head.padEnd(width)}${entry.summary}${from}`;
  };
  const lines = ['Type a message and press Enter to send it to the open conversation. Commands:', ...core.map(line)];
  if (plugins.length > 0) lines.push('Commands of the plugins this server has enabled:', ...plugins.map(line));
  lines.push('/help <command> explains one command. Start a line with // to send a message that begins with /.');
  return lines;
}

/** `/help <command>` as lines. */
export function commandHelpLines(entry: HelpEntry): string[] {
  const lines = [synopsis(entry), `  ${entry.summary}${entry.plugin ? ` (from the ${entry.plugin} plugin)` : ''}`];
  for (const detail of entry.details ?? []) lines.push(`  ${detail}`);
  if (entry.aliases && entry.aliases.length > 0) lines.push(`  Also: ${entry.aliases.map((alias) => `/${alias}`).join(', ')}`);
  return lines;
}

/** The entry for a name or alias (a leading slash is allowed). */
export function findHelpEntry(entries: readonly HelpEntry[], name: string): HelpEntry | undefined {
  const wanted = name.replace(/^\//, '').toLowerCase();
  return entries.find((entry) => entry.name === wanted) ?? entries.find((entry) => entry.aliases?.includes(wanted));
}

/** The sentence for a command nobody knows, with suggestions (by name; an alias suggests its command). */
export function unknownCommandMessage(name: string, entries: readonly HelpEntry[]): string {
  const byName = new Map<string, string>();
  for (const entry of entries) {
    byName.set(entry.name, entry.name);
    for (const alias of entry.aliases ?? []) if (alias.length > 1) byName.set(alias, entry.name);
  }
  const close = [...new Set(suggest(name, [...byName.keys()]).map((candidate) => byName.get(candidate)!))].map((candidate) => `/${candidate}`);
  const shown = name === '' ? 'A lone "/" is not a command' : `Unknown command /${name}`;
  return `${shown}.${close.length > 0 ? ` Did you mean ${close.join(' or ')}?` : ''} Type /help to see all commands.`;
}

const helpCommand: ChatCommand = {
  name: 'help',
  aliases: ['h', '?'],
  usage: '[command]',
  summary: 'show the commands, or explain one',
  run(input, session) {
    const entries = session.commandList();
    if (input.args.length === 0) {
      for (const line of helpLines(entries)) session.print(line);
      return;
    }
    const entry = findHelpEntry(entries, input.args[0]!);
    if (!entry) throw notFoundError(unknownCommandMessage(input.args[0]!.replace(/^\//, '').toLowerCase(), entries));
    for (const line of commandHelpLines(entry)) session.print(line);
  },
};

export const CORE_COMMANDS: readonly ChatCommand[] = [helpCommand, ...conversationCommands, ...messageCommands, ...deviceCommands, ...accountCommands];

/** A core command by name or alias. */
export function findCoreCommand(name: string): ChatCommand | undefined {
  return CORE_COMMANDS.find((command) => command.name === name) ?? CORE_COMMANDS.find((command) => command.aliases?.includes(name));
}
