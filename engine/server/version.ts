/** The server's version, from package.json (advertised in hello and login_finish). */
import { createRequire } from 'node:module';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };

export const SERVER_VERSION: string = pkg.version;
