/**
 * The test harness, for the engine's own tests and for plugin authors: a real server with chosen
 * plugins on a temporary database, protocol clients over TLS and WebSocket, and a helper that runs
 * a suite on every database backend.
 */
export { startTestServer } from './server.js';
export type { StartTestServerOptions, TestServer, TestConnectionOptions } from './server.js';
export { TestConnection } from './connection.js';
export type { TestConnectOptions, TestResponse, ReceivedPush, TestTransport } from './connection.js';
export { forEachBackend, urlForDatabase } from './backends.js';
export type { Backend } from './backends.js';
export { testServerConfig } from '../server/config.js';
export type { ServerConfigOverrides } from '../server/config.js';
export { createAccount, login, readOutboxCode, readOutbox } from './accounts.js';
export type { TestAccount, CreateAccountOptions, LoginOptions, TestLogin } from './accounts.js';
export {
  PASSWORD,
  FAST_ENVELOPE,
  uniqueName,
  tempHome,
  removeHomes,
  clientFor,
  registerUser,
  loginUser,
  linkDevice,
  waitFor,
  waitForText,
  closeAll,
  EventLog,
} from './clients.js';
export type { ClientSetup, User } from './clients.js';
export { offlineSwitch } from './offline.js';
export type { OfflineSwitch } from './offline.js';
export { FakeClientApi, FakeTerminal, decorated, settle } from './fake-client-api.js';
export type { FakeSetup } from './fake-client-api.js';
