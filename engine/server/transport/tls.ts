/**
 * TLS for both transports: certificate files in production, a cached self-signed certificate in
 * development, or no TLS at all (development only). The original's hardening: TLS 1.2 at least,
 * ECDHE with AEAD ciphers only, the server's cipher order, a handshake timeout (audit L5, H2/H14).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createSecureContext, type TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import { StartupError, StartupErrorCode } from '../../errors.js';
import type { ServerConfig } from '../config-types.js';

/** TLS 1.3 suites first (all AEAD), then TLS 1.2 suites with forward secrecy and AEAD only. */
export const TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');

export const TLS_MIN_VERSION = 'TLSv1.2';
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Certificate files inside the self-signed cache folder. */
export const DEV_CERT_FILE = 'cert.pem';
export const DEV_KEY_FILE = 'key.pem';
const DEV_LOCK_FILE = '.generating';
/** A cached certificate is replaced when it expires within this margin. */
const RENEW_MARGIN_MS = 7 * 24 * 3600 * 1000;
/** A lock file older than this is left over from a crashed process. */
const STALE_LOCK_MS = 10_000;
const DEV_HOSTS = ['localhost', '127.0.0.1', '::1'];

export interface TlsContext {
  /** Options for tls.createServer / https.createServer (certificate, key, ciphers, versions). */
  readonly serverOptions: TlsOptions;
  /** The server's certificate (PEM). For a self-signed one, this is what clients must trust. */
  readonly certificate: string;
  /** The CA certificate(s) from TLS_CA_FILE, if any (PEM). */
  readonly ca: string | undefined;
  readonly selfSigned: boolean;
  /** Where the certificate is on disk. */
  readonly certFile: string;
  readonly validTo: Date;
}

/** Where a self-signed development certificate is cached for this configuration. */
export function devTlsDir(config: Pick<ServerConfig, 'tls' | 'dataDir'>): string {
  const cacheDir = config.tls.mode === 'self-signed' ? config.tls.cacheDir : undefined;
  return resolve(cacheDir ?? join(config.dataDir, 'dev-tls'));
}

/**
 * Turns the TLS configuration into server options. Returns undefined for plaintext (development
 * only). Refuses, with one StartupError line, unreadable files, a key that does not match its
 * certificate, and any development shortcut outside ENVIRONMENT=dev/test.
 */
export async function resolveTls(config: ServerConfig, log: Logger): Promise<TlsContext | undefined> {
  const development = config.environment === 'dev' || config.environment === 'test';
  const tls = config.tls;
  switch (tls.mode) {
    case 'plain':
      if (!development) {
        throw new StartupError(
          StartupErrorCode.TLS_REQUIRED,
          'Plaintext (ALLOW_PLAINTEXT) is refused outside development: set TLS_CERT_FILE and TLS_KEY_FILE, or ENVIRONMENT=dev',
        );
      }
      log.warn('TLS is OFF (ALLOW_PLAINTEXT): traffic is NOT encrypted in transit; development use only');
      return undefined;
    case 'self-signed': {
      if (!development) {
        throw new StartupError(
          StartupErrorCode.TLS_REQUIRED,
          'TLS certificate required in production: set TLS_CERT_FILE and TLS_KEY_FILE (a self-signed certificate is generated only with ENVIRONMENT=dev)',
        );
      }
      const dir = devTlsDir(config);
      const pair = await loadOrCreateDevCertificate(dir, log);
      log.warn(
        { certFile: join(dir, DEV_CERT_FILE), validTo: pair.validTo.toISOString() },
        'using a SELF-SIGNED TLS certificate for development; clients must trust this file explicitly',
      );
      return context(pair.cert, pair.key, undefined, true, join(dir, DEV_CERT_FILE), pair.validTo);
    }
    case 'files': {
      const cert = await readPem(tls.certFile, 'TLS_CERT_FILE');
      const key = await readPem(tls.keyFile, 'TLS_KEY_FILE');
      const ca = tls.caFile === undefined ? undefined : await readPem(tls.caFile, 'TLS_CA_FILE');
      let certificate: X509Certificate;
      try {
        certificate = new X509Certificate(cert);
      } catch {
        throw new StartupError(StartupErrorCode.TLS_REQUIRED, `TLS_CERT_FILE ${tls.certFile} does not contain a PEM certificate`);
      }
      let matches: boolean;
      try {
        matches = certificate.checkPrivateKey(createPrivateKey(key));
      } catch {
        throw new StartupError(StartupErrorCode.TLS_REQUIRED, `TLS_KEY_FILE ${tls.keyFile} does not contain a PEM private key`);
      }
      if (!matches) {
        throw new StartupError(StartupErrorCode.TLS_REQUIRED, `TLS_KEY_FILE ${tls.keyFile} is not the key of the certificate in TLS_CERT_FILE ${tls.certFile}`);
      }
      const validTo = new Date(certificate.validTo);
      if (validTo.getTime() <= Date.now()) {
        log.error({ certFile: tls.certFile, validTo: validTo.toISOString() }, 'the TLS certificate has EXPIRED: clients will refuse it');
      } else {
        log.info({ certFile: tls.certFile, validTo: validTo.toISOString() }, 'TLS certificate loaded');
      }
      const result = context(cert, key, ca, false, resolve(tls.certFile), validTo);
      try {
        createSecureContext(result.serverOptions);
      } catch (error) {
        throw new StartupError(StartupErrorCode.TLS_REQUIRED, `TLS files cannot be used (${firstLine(error)}): check TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE`, undefined, {
          cause: error,
        });
      }
      return result;
    }
  }
}

function context(cert: string, key: string, ca: string | undefined, selfSigned: boolean, certFile: string, validTo: Date): TlsContext {
  const serverOptions: TlsOptions = {
    cert,
    key,
    ...(ca === undefined ? {} : { ca }),
    minVersion: TLS_MIN_VERSION,
    ciphers: TLS_CIPHERS,
    honorCipherOrder: true,
    handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
  };
  return { serverOptions, certificate: cert, ca, selfSigned, certFile, validTo };
}

async function readPem(path: string, variable: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be read (${code})`;
    throw new StartupError(StartupErrorCode.TLS_REQUIRED, `${variable} ${path} ${why}`, { variable }, { cause: error });
  }
}

interface DevPair {
  readonly cert: string;
  readonly key: string;
  readonly validTo: Date;
}

/**
 * The development certificate from the cache folder, generated when missing, mismatched or close
 * to expiry. Several processes may start at once (parallel tests): a lock file makes one of them
 * generate while the others wait and then read its result.
 */
export async function loadOrCreateDevCertificate(dir: string, log: Logger): Promise<DevPair> {
  const cached = await readDevPair(dir);
  if (cached) return cached;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700).catch(() => undefined);
  const lock = join(dir, DEV_LOCK_FILE);
  const deadline = Date.now() + STALE_LOCK_MS * 2;
  for (;;) {
    let handle;
    try {
      handle = await open(lock, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // Someone else is generating: wait for their result (or for a stale lock to be removed).
      await new Promise((r) => setTimeout(r, 25));
      const ready = await readDevPair(dir);
      if (ready) return ready;
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > STALE_LOCK_MS) await rm(lock, { force: true });
      if (Date.now() > deadline) throw new Error(`Timed out waiting for the development certificate in ${dir}`);
      continue;
    }
    try {
      const again = await readDevPair(dir);
      if (again) return again;
      const pair = await generateDevPair();
      await writeAtomic(join(dir, DEV_KEY_FILE), pair.key, 0o600);
      await writeAtomic(join(dir, DEV_CERT_FILE), pair.cert, 0o644);
      log.info({ dir }, 'generated a self-signed development certificate');
      return pair;
    } finally {
      await handle.close();
      await rm(lock, { force: true });
    }
  }
}

async function readDevPair(dir: string): Promise<DevPair | undefined> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([readFile(join(dir, DEV_CERT_FILE), 'utf8'), readFile(join(dir, DEV_KEY_FILE), 'utf8')]);
  } catch {
    return undefined;
  }
  try {
    const certificate = new X509Certificate(cert);
    const validTo = new Date(certificate.validTo);
    if (validTo.getTime() - Date.now() < RENEW_MARGIN_MS) return undefined;
    if (new Date(certificate.validFrom).getTime() > Date.now()) return undefined;
    if (!certificate.checkPrivateKey(createPrivateKey(key))) return undefined;
    const names = certificate.subjectAltName ?? '';
    if (!names.includes('DNS:localhost')) return undefined;
    return { cert, key, validTo };
  } catch {
    // Damaged or half-written files: generate new ones.
    return undefined;
  }
}

async function generateDevPair(): Promise<DevPair> {
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore);
  notAfter.setFullYear(notAfter.getFullYear() + 1);
  // Loaded only here: selfsigned pulls in @peculiar/x509 and its ASN.1 stack, ~50 ms of module
  // loading (5% of a warm `kecalek server --dev` start in its CPU profile, bench/coldstart.ts) that
  // every start paid although only the first one generates a certificate.
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: notBefore,
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: DEV_HOSTS.map((host) => (host.includes(':') || /^\d/.test(host) ? { type: 7 as const, ip: host } : { type: 2 as const, value: host })),
      },
    ],
  });
  return { cert: pems.cert, key: pems.private, validTo: new Date(new X509Certificate(pems.cert).validTo) };
}

/** Writes a file through a temporary sibling, fsync and rename: readers see the old or the new file, whole. */
async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const handle = await open(temp, 'w', mode);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(temp, mode);
  await rename(temp, path);
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
