/**
 * The `kecalek` command. Each sub-command lives in its own module and registers itself on the
 * program; add new ones to COMMANDS.
 */
import { Command } from 'commander';
import { SERVER_VERSION } from '../engine/server/version.js';
import { registerServerCommand } from './server-command.js';
import { registerChatCommand } from './chat/command.js';
import { registerPluginsCommand } from './plugins-command.js';

export type RegisterCommand = (program: Command) => void;

const COMMANDS: readonly RegisterCommand[] = [registerServerCommand, registerChatCommand, registerPluginsCommand];

export function createProgram(): Command {
  const program = new Command('kecalek')
    .description('Kecalek: self-hosted end-to-end encrypted chat')
    .version(SERVER_VERSION, '-V, --version', 'print the version')
    .showHelpAfterError('(kecalek --help lists the commands)');
  for (const register of COMMANDS) register(program);
  return program;
}

await createProgram().parseAsync(process.argv);
