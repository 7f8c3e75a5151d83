/** The engine's own migrations, in order. Run before any plugin's (engine/plugin/migrations.ts). */
import type { PluginMigration } from '../engine/plugin/define.js';
import { migration as core } from './0001_core.js';
import { migration as pairing } from './0002_pairing.js';
import { migration as removedDevices } from './0003_removed_devices.js';

export const engineMigrations: readonly PluginMigration[] = [core, pairing, removedDevices];
