/** The client's version, from package.json (sent as `client_version` in login_finish). */
import { createRequire } from 'node:module';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };

export const CLIENT_VERSION: string = pkg.version;
