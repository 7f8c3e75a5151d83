/** The public plugin API: everything a plugin (built-in or third-party) imports from the engine. */
export { definePlugin, PLUGIN_API_VERSION, SUPPORTED_API_VERSIONS, isValidPluginName } from './define.js';
export type { PluginDefinition, PluginMigration, AnyPluginDefinition, ConfigOf } from './define.js';
export { createToken, tokenOwner } from './tokens.js';
export type { Token } from './tokens.js';
export type { ServerPluginApi, Handler, PushOptions, DevicePush } from './server-api.js';
export type { ServerHooks, HookName, PluginHookTaps, HookTapSignatures, FailurePolicy } from './server-hooks.js';
export { HOOK_POLICIES } from './server-hooks.js';
export type { KeyValueStore } from './kv.js';
export type { BlobStore } from './blobs.js';
export type { CoreServices, UserSummary, ConversationSummary, MessageMeta } from './core-services.js';
export type * from './server-types.js';
export type * from './client-api.js';
export { WireError, WireErrorCode, errors } from '../errors.js';
export { parseMessageNumber, messageReferenceLabel } from './message-reference.js';
// Database helpers for plugins' migrations and queries (SQLite and MySQL/MariaDB differ here).
export { toBool, toMillis, toMillisOrNull, isUniqueViolation, isForeignKeyViolation, exactCollation } from '../server/db/dialect.js';
export type { Knex } from 'knex';
