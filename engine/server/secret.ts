/**
 * The server secret: 32 random bytes that key registration-code hashes and make fake login
 * challenges for unknown emails indistinguishable from real ones. SERVER_SECRET (hex or base64)
 * wins; otherwise it is created once in the data directory with mode 0600 and reused, so every
 * process of a deployment that shares the data directory agrees on it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { StartupError, StartupErrorCode } from '../errors.js';
import type { ServerConfig } from './config-types.js';

const FILE_NAME = 'server-secret';

export async function loadServerSecret(config: Pick<ServerConfig, 'serverSecret' | 'dataDir'>): Promise<Uint8Array> {
  if (config.serverSecret) return decodeSecret(config.serverSecret);
  const path = join(config.dataDir, FILE_NAME);
  try {
    return decodeSecret((await readFile(path, 'utf8')).trim());
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(32);
  try {
    // 'wx': if another process created it first, use theirs.
    await writeFile(path, secret.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    await chmod(path, 0o600);
    return secret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return decodeSecret((await readFile(path, 'utf8')).trim());
    throw error;
  }
}

function decodeSecret(value: string): Uint8Array {
  const bytes = /^[0-9a-fA-F]+$/.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
  if (bytes.length < 32) {
    throw new StartupError(StartupErrorCode.CONFIG_INVALID, 'SERVER_SECRET must be at least 32 bytes (64 hex characters)');
  }
  return new Uint8Array(bytes);
}
