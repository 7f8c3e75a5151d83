/** The harness's stand-in client plugin API (engine/testing/fake-client-api.ts). */
export * from '../../../engine/testing/fake-client-api.js';
