/** The ChatClient suites use the harness's client helpers (engine/testing/clients.ts). */
export * from '../../testing/clients.js';
