/**
 * core-accounts: registration by mailed code, login by Ed25519 challenge-response with a
 * separate, rotatable login key, logout, login-key rotation, user look-ups, and the users service
 * behind `api.core.users`.
 *
 * Nothing here tells an outsider whether an address has an account (the original's audit items
 * H3 and H13): `register` answers the same for every address (the owner of an existing account
 * gets a notice instead of a code), `login_start` hands out a challenge for any address, every
 * failed `login_finish` is the same `invalid_credentials`, and looking up an unknown address
 * creates a "phantom" — a placeholder account with real, server-made keys whose private halves
 * are thrown away — so the answer looks exactly like a registered user's. A phantom is upgraded in
 * place (same user id) when its owner registers, and removed after a while when nobody talks to it
 * (L8).
 *
 * A login binds the connection to a device: a known one, or a new one that is announced to the
 * account's other devices and its online contacts (`device_added`). A removed device's id is
 * refused (`device_removed`): every device holds the login key, and without its tombstone a
 * removed device would simply come back.
 */
import { createHmac, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import { Type } from 'typebox';
import { WireError, WireErrorCode, errors } from '../../errors.js';
import { definePlugin, type AnyPluginDefinition } from '../../plugin/define.js';
import type { CoreServices, UserSummary } from '../../plugin/core-services.js';
import type { AuthedRequestContext, RequestContext } from '../../plugin/server-types.js';
import { decodeBase64, encodeBase64 } from '../../protocol/base64.js';
import { Base64, Email, EMAIL_MAX_LENGTH, EMAIL_PATTERN, USERNAME_MAX_LENGTH, Username, Uuid } from '../../protocol/validation.js';
import { LOGIN_CHALLENGE_BYTES, loginChallengeMessage, normalizeEmail, rotateLoginKeyMessage } from '../../protocol/auth.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import {
  ed25519KeyPair,
  ed25519Verify,
  generateOneTimePreKeys,
  generateSignedPreKey,
  randomBytes,
  wipe,
} from '../../crypto/index.js';
import { isUniqueViolation } from '../db/dialect.js';
import {
  deleteExpiredPendingRegistrations,
  deletePendingRegistration,
  deletePhantomUsers,
  findPendingRegistration,
  findUserByEmail,
  findUserById,
  findUsersByIds,
  insertUser,
  recordFailedAttempt,
  selectPhantomIds,
  selectStalePhantomIds,
  updateLoginKey,
  upgradePhantomUser,
  upsertPendingRegistration,
  type UserRecord,
} from '../db/users.js';
import { deleteDevicesOfUser, findDevice, insertDevice, insertDeviceWithinCap, isRemovedDevice, touchDevice } from '../db/devices.js';
import { contactIds } from '../db/conversations.js';
import { insertOneTimePreKeyRows, upsertSignedPreKey } from '../db/prekeys.js';
import { SERVER_VERSION } from '../version.js';
import { shortId } from '../logger.js';
import { CORE_TOKENS } from './tokens.js';
import type { EngineInternals } from './internals.js';

/** Wrong codes allowed before a pending registration is thrown away. */
export const MAX_CODE_ATTEMPTS = 5;
/** How long a login challenge may be answered. */
export const LOGIN_CHALLENGE_TTL_MS = 60_000;
/** One-time pre-keys a phantom account gets (so that X3DH with it looks like with anyone). */
export const PHANTOM_ONE_TIME_PREKEYS = 5;
export const DEVICE_NAME_MAX_LENGTH = 64;
export const CLIENT_VERSION_MAX_LENGTH = 64;

const LOGIN_STATE_KEY = 'core-accounts.login-challenge';
const DAY_MS = 24 * 60 * 60 * 1000;
const STALE_PHANTOM_BATCH = 500;

interface LoginChallenge {
  readonly challenge: Uint8Array;
  readonly email: string;
  readonly expiresAt: number;
}

// ---- request schemas ---------------------------------------------------------------------------

const SEMVER_PATTERN = '^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)(?:-([0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*))?(?:\\+[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?$';
const SEMVER = new RegExp(SEMVER_PATTERN);

const RegisterRequest = Type.Object({
  username: Username(),
  email: Email(),
  identity_key: Base64(32),
  login_key: Base64(32),
});

const RegisterConfirmRequest = Type.Object({
  email: Email(),
  code: Type.String({ pattern: '^[0-9]{6}$', errorMessage: { pattern: 'must be the 6-digit code' } }),
});

const LoginStartRequest = Type.Object({ email: Email() });

const LoginFinishRequest = Type.Object({
  email: Email(),
  signature: Base64(64),
  client_version: Type.String({
    maxLength: CLIENT_VERSION_MAX_LENGTH,
    pattern: SEMVER_PATTERN,
    errorMessage: { pattern: 'must be a semantic version such as 1.2.3' },
  }),
  device_id: Type.Optional(Uuid()),
  device_name: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: DEVICE_NAME_MAX_LENGTH,
      pattern: '^[^\\u0000-\\u001f\\u007f]+$',
      errorMessage: { pattern: 'must not contain control characters' },
    }),
  ),
});

const EmptyRequest = Type.Object({});

const RotateKeysRequest = Type.Object({
  login_key: Base64(32),
  signature: Base64(64),
});

const GetUserInfoRequest = Type.Object({
  user_id: Type.Optional(Uuid()),
  email: Type.Optional(Email()),
});

// ---- helpers other modules use -----------------------------------------------------------------

/** True when the user exists and is a phantom (messages to it are not stored). */
export async function isPhantomUser(db: Knex, userId: string): Promise<boolean> {
  return (await selectPhantomIds(db, [userId])).has(userId);
}

/** The phantoms among these users. */
export async function phantomUserIds(db: Knex, userIds: Iterable<string>): Promise<Set<string>> {
  return selectPhantomIds(db, userIds);
}

/**
 * Compares two semantic versions (`major.minor.patch[-prerelease][+build]`): negative when a < b,
 * 0 when equal in precedence, positive when a > b. Build metadata is ignored; a pre-release sorts
 * before its release. Throws a TypeError for a string that is not a semantic version.
 */
export function compareSemver(a: string, b: string): number {
  const pa = parseSemver(a);
  const pb = parseSemver(b);
  for (let i = 0; i < 3; i++) if (pa.core[i] !== pb.core[i]) return pa.core[i]! < pb.core[i]! ? -1 : 1;
  if (pa.pre.length === 0 && pb.pre.length === 0) return 0;
  if (pa.pre.length === 0) return 1;
  if (pb.pre.length === 0) return -1;
  for (let i = 0; i < Math.min(pa.pre.length, pb.pre.length); i++) {
    const x = pa.pre[i]!;
    const y = pb.pre[i]!;
    if (x === y) continue;
    const xn = /^[0-9]+$/.test(x);
    const yn = /^[0-9]+$/.test(y);
    if (xn && yn) return Number(x) < Number(y) ? -1 : 1;
    if (xn !== yn) return xn ? -1 : 1; // numeric identifiers sort before alphanumeric ones
    return x < y ? -1 : 1;
  }
  return Math.sign(pa.pre.length - pb.pre.length);
}

function parseSemver(version: string): { core: [number, number, number]; pre: string[] } {
  const match = SEMVER.exec(version.trim());
  if (!match) throw new TypeError(`"${version}" is not a semantic version`);
  return { core: [Number(match[1]), Number(match[2]), Number(match[3])], pre: match[4] ? match[4].split('.') : [] };
}

/** A phantom's username: the address's local part reduced to the username alphabet. */
export function phantomUsername(email: string): string {
  const local = email.slice(0, Math.max(0, email.indexOf('@')));
  const cleaned = local.replace(/[^A-Za-z0-9._-]/g, '').slice(0, USERNAME_MAX_LENGTH);
  return cleaned.length > 0 ? cleaned : 'user';
}

const EMAIL_REGEX = new RegExp(EMAIL_PATTERN);

/**
 * A public key an honest Ed25519 key pair can have: a canonical encoding of a curve point in the
 * prime-order subgroup. Small-order and mixed-order points are refused: they make signatures
 * forgeable by guessing and X3DH outputs predictable.
 */
export function isUsableEd25519PublicKey(key: Uint8Array): boolean {
  if (key.length !== 32) return false;
  try {
    const point = ed25519.Point.fromBytes(key);
    return !point.isSmallOrder() && point.isTorsionFree();
  } catch {
    return false;
  }
}

// ---- the module --------------------------------------------------------------------------------

export function createAccountsModule(internals: EngineInternals): AnyPluginDefinition {
  const { config } = internals;
  const serverSecret = internals.serverSecret;
  // Verified against when there is no real login key, so a failed login does the same work.
  const decoyLoginKey = ed25519KeyPair().publicKey;

  function codeHash(email: string, code: string): string {
    return createHmac('sha256', serverSecret).update(`${email}:${code}`).digest('hex');
  }

  function sameHash(a: string, b: string): boolean {
    const x = Buffer.from(a, 'hex');
    const y = Buffer.from(b, 'hex');
    return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
  }

  function requireValidKey(value: string, field: string): Uint8Array {
    const key = decodeBase64(value, field, { exactBytes: 32 });
    if (!isUsableEd25519PublicKey(key)) throw errors.badRequest(field, `${field} is not a valid Ed25519 public key`);
    return key;
  }

  return definePlugin({
    name: 'core-accounts',
    version: SERVER_VERSION,
    apiVersion: 1,
    description: 'Registration, login, logout, login-key rotation and user look-ups.',
    server(api) {
      const db = api.db;
      const log = api.log;

      /** The user with this (normalised) address, creating a phantom when there is none. */
      async function resolveEmail(email: string): Promise<UserRecord> {
        const normalized = normalizeEmail(email);
        if (normalized.length > EMAIL_MAX_LENGTH || !EMAIL_REGEX.test(normalized)) throw errors.badRequest('email', 'email must be an email address');
        const existing = await findUserByEmail(db, normalized);
        if (existing) return existing;
        return createPhantom(normalized);
      }

      async function createPhantom(email: string): Promise<UserRecord> {
        const identity = ed25519KeyPair();
        const login = ed25519KeyPair();
        // Ids as a client might pick them; below 2^31 so they fit a signed INT column too.
        const signedPreKey = generateSignedPreKey(identity.privateKey, randomInt(1, 2 ** 31 - 1));
        const oneTimePreKeys = generateOneTimePreKeys(randomInt(1, 2 ** 31 - 1 - PHANTOM_ONE_TIME_PREKEYS), PHANTOM_ONE_TIME_PREKEYS);
        const now = Date.now();
        const user: UserRecord = {
          id: randomUUID(),
          username: phantomUsername(email),
          email,
          identityKey: encodeBase64(identity.publicKey),
          loginKey: encodeBase64(login.publicKey),
          phantom: true,
          createdAt: now,
          updatedAt: now,
        };
        const deviceId = randomUUID();
        try {
          await db.transaction(async (trx) => {
            await insertUser(trx, user);
            await insertDevice(trx, { id: deviceId, userId: user.id, name: null, createdAt: now, lastSeenAt: now });
            await upsertSignedPreKey(trx, {
              deviceId,
              userId: user.id,
              keyId: signedPreKey.keyId,
              publicKey: encodeBase64(signedPreKey.publicKey),
              signature: encodeBase64(signedPreKey.signature),
              createdAt: now,
            });
            await insertOneTimePreKeyRows(
              trx,
              { userId: user.id, deviceId },
              oneTimePreKeys.map((key) => ({ keyId: key.keyId, publicKey: encodeBase64(key.publicKey) })),
            );
          });
        } catch (error) {
          // Someone resolved (or registered) the same address at the same moment: use theirs.
          if (isUniqueViolation(error)) {
            const existing = await findUserByEmail(db, email);
            if (existing) return existing;
          }
          throw error;
        } finally {
          // The server must never be able to act as the phantom: its private keys go now.
          wipe(identity.privateKey, login.privateKey, signedPreKey.privateKey, ...oneTimePreKeys.map((key) => key.privateKey));
        }
        log.info({ user: shortId(user.id) }, 'phantom account created');
        return user;
      }

      const summary = (user: UserRecord): UserSummary => ({ id: user.id, username: user.username });

      const users: CoreServices['users'] = {
        async get(userId) {
          const user = await findUserById(db, userId);
          return user ? summary(user) : undefined;
        },
        async getMany(userIds) {
          const found = await findUsersByIds(db, userIds);
          const result = new Map<string, UserSummary>();
          for (const [id, user] of found) result.set(id, summary(user));
          return result;
        },
        async resolveEmail(email) {
          return summary(await resolveEmail(email));
        },
      };
      api.provide(CORE_TOKENS.users, users);

      // ---- register ----------------------------------------------------------------------------

      api.handle(
        'register',
        RegisterRequest,
        async (request) => {
          const email = normalizeEmail(request.email);
          const identityKey = requireValidKey(request.identity_key, 'identity_key');
          const loginKey = requireValidKey(request.login_key, 'login_key');
          if (Buffer.from(identityKey).equals(loginKey)) throw errors.badRequest('login_key', 'login_key must differ from identity_key');

          const existing = await findUserByEmail(db, email);
          if (existing && !existing.phantom) {
            // Same answer as for a new address; the owner learns about the attempt, nobody gets a code.
            await mail(() => internals.mailer.sendRegistrationAttemptNotice(email));
            return { status: 'code_sent' };
          }
          const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
          const now = Date.now();
          await upsertPendingRegistration(db, {
            email,
            username: request.username,
            identityKey: encodeBase64(identityKey),
            loginKey: encodeBase64(loginKey),
            codeHash: codeHash(email, code),
            attempts: 0,
            createdAt: now,
            expiresAt: now + config.registrationCodeTtlMs,
          });
          await mail(() => internals.mailer.sendRegistrationCode({ email, username: request.username }, code));
          return { status: 'code_sent' };
        },
        {
          auth: false,
          rateLimit: [
            { key: 'ip+email', points: config.rateLimits.registerPerMinute, durationSec: 60 },
            { name: 'register-ip', key: 'ip', points: config.rateLimits.registerPerIpPerHour, durationSec: 3600 },
          ],
        },
      );

      /** Sends a mail; a failure is logged without the address and answered generically (same for every address). */
      async function mail(send: () => Promise<void>): Promise<void> {
        try {
          await send();
        } catch (error) {
          const code = (error as { code?: unknown; responseCode?: unknown }).code ?? (error as { responseCode?: unknown }).responseCode;
          log.error({ mail_error: typeof code === 'string' || typeof code === 'number' ? code : 'unknown' }, 'could not send a registration mail');
          throw new WireError(WireErrorCode.INTERNAL_ERROR, 'Could not send the email; try again later');
        }
      }

      // ---- register_confirm --------------------------------------------------------------------

      api.handle(
        'register_confirm',
        RegisterConfirmRequest,
        async (request) => {
          const email = normalizeEmail(request.email);
          const invalid = () => new WireError(WireErrorCode.INVALID_CODE, 'The code is wrong or has expired');
          const pending = await findPendingRegistration(db, email);
          const now = Date.now();
          if (!pending) throw invalid();
          if (pending.expiresAt <= now || pending.attempts >= MAX_CODE_ATTEMPTS) {
            await deletePendingRegistration(db, email, pending.codeHash);
            throw invalid();
          }
          if (!sameHash(codeHash(email, request.code), pending.codeHash)) {
            const attempts = await recordFailedAttempt(db, email);
            if (attempts >= MAX_CODE_ATTEMPTS) await deletePendingRegistration(db, email);
            throw invalid();
          }

          let userId: string;
          try {
            userId = await db.transaction(async (trx) => {
              // Taking the pending row first makes a concurrent confirm of the same code find nothing.
              if (!(await deletePendingRegistration(trx, email, pending.codeHash))) throw invalid();
              const existing = await findUserByEmail(trx, email);
              if (existing && !existing.phantom) throw invalid();
              if (existing) {
                const upgraded = await upgradePhantomUser(trx, existing.id, {
                  username: pending.username,
                  identityKey: pending.identityKey,
                  loginKey: pending.loginKey,
                  now,
                });
                if (!upgraded) throw invalid();
                // The phantom's server-made device and pre-keys go; the owner brings their own.
                await deleteDevicesOfUser(trx, existing.id);
                return existing.id;
              }
              const id = randomUUID();
              await insertUser(trx, {
                id,
                username: pending.username,
                email,
                identityKey: pending.identityKey,
                loginKey: pending.loginKey,
                phantom: false,
                createdAt: now,
                updatedAt: now,
              });
              return id;
            });
          } catch (error) {
            if (isUniqueViolation(error)) throw invalid();
            throw error;
          }
          log.info({ user: shortId(userId) }, 'account registered');
          return { user_id: userId, username: pending.username };
        },
        { auth: false, rateLimit: { key: 'ip+email', points: 10, durationSec: 60 } },
      );

      // ---- login -------------------------------------------------------------------------------

      api.handle(
        'login_start',
        LoginStartRequest,
        async (request, ctx: RequestContext) => {
          const connection = internals.connection(ctx.connection.id);
          if (!connection) throw errors.invalidCredentials();
          // The same for every address, registered or not (H3).
          const challenge = randomBytes(LOGIN_CHALLENGE_BYTES);
          const state: LoginChallenge = { challenge, email: normalizeEmail(request.email), expiresAt: Date.now() + LOGIN_CHALLENGE_TTL_MS };
          connection.state.set(LOGIN_STATE_KEY, state);
          return { challenge: encodeBase64(challenge), server_time: Date.now() };
        },
        { auth: false, rateLimit: { key: 'ip+email', points: config.rateLimits.loginPerMinute, durationSec: 60 } },
      );

      api.handle(
        'login_finish',
        LoginFinishRequest,
        async (request, ctx: RequestContext) => {
          const connection = internals.connection(ctx.connection.id);
          // A challenge answers one login_finish, whatever its outcome.
          const pending = connection?.state.get(LOGIN_STATE_KEY) as LoginChallenge | undefined;
          connection?.state.delete(LOGIN_STATE_KEY);
          if (compareSemver(request.client_version, config.minClientVersion) < 0) {
            throw new WireError(
              WireErrorCode.UNSUPPORTED_VERSION,
              `Client version ${request.client_version} is too old; this server needs ${config.minClientVersion} or newer`,
              { min_client_version: config.minClientVersion, server_version: SERVER_VERSION },
            );
          }
          const signature = decodeBase64(request.signature, 'signature', { exactBytes: 64 });
          const email = normalizeEmail(request.email);
          const now = Date.now();
          const user = await findUserByEmail(db, email);
          const challengeValid = pending !== undefined && pending.expiresAt > now && pending.email === email;
          const usable = user !== undefined && !user.phantom;
          const loginKey = usable ? decodeBase64(user.loginKey, 'login_key', { exactBytes: 32 }) : decoyLoginKey;
          const message = loginChallengeMessage(pending?.challenge ?? new Uint8Array(LOGIN_CHALLENGE_BYTES), email);
          const verified = ed25519Verify(loginKey, message, signature);
          if (!connection || !challengeValid || !usable || !verified) throw errors.invalidCredentials();

          let deviceId: string;
          let newDevice: boolean;
          const known = request.device_id !== undefined ? await findDevice(db, user.id, request.device_id) : undefined;
          if (known) {
            deviceId = known.id;
            newDevice = false;
            // last_seen_at is recorded by core-keys' authenticated hook, written behind in batches
            // (last-seen.ts); only a new device name is written here, before the answer.
            if (request.device_name !== undefined && request.device_name !== known.name) {
              await touchDevice(db, user.id, deviceId, now, request.device_name);
            }
          } else if (request.device_id !== undefined && (await isRemovedDevice(db, user.id, request.device_id))) {
            // Every device holds the login key: without this a removed device would come straight
            // back as a new one. Said only to someone who proved the login key.
            throw new WireError(
              WireErrorCode.DEVICE_REMOVED,
              'This device was removed from the account; link it again from one of the account\'s devices',
            );
          } else {
            deviceId = randomUUID();
            newDevice = true;
            const created = await insertDeviceWithinCap(
              db,
              { id: deviceId, userId: user.id, name: request.device_name ?? null, createdAt: now, lastSeenAt: now },
              config.limits.maxDevicesPerUser,
            );
            if (!created) {
              throw errors.conflict(
                `This account already has the maximum of ${config.limits.maxDevicesPerUser} devices; remove one (remove_device) from a device that is logged in, then try again`,
              );
            }
          }
          if (connection.closed) throw errors.invalidCredentials();
          await internals.authenticate(connection, { userId: user.id, deviceId, username: user.username });
          if (newDevice) {
            // Contacts and the account's other devices encrypt for the new device from their next
            // message on (fetching its bundle) instead of learning it from device_mismatch.
            const contacts = await contactIds(db, user.id);
            api.notify([user.id, ...contacts], 'device_added', { user_id: user.id, device_id: deviceId }, { exceptConnectionId: connection.id });
            log.info({ user: shortId(user.id), device: shortId(deviceId) }, 'device added');
          }
          return {
            user_id: user.id,
            username: user.username,
            device_id: deviceId,
            new_device: newDevice,
            server_version: SERVER_VERSION,
            server_time: Date.now(),
          };
        },
        { auth: false, rateLimit: { key: 'ip+email', points: config.rateLimits.loginPerMinute, durationSec: 60 } },
      );

      api.handle('logout', EmptyRequest, async (_request, ctx: AuthedRequestContext) => {
        const connection = internals.connection(ctx.connection.id);
        if (connection) {
          connection.state.delete(LOGIN_STATE_KEY);
          await internals.deauthenticate(connection);
        }
        return {};
      });

      // ---- rotate_keys -------------------------------------------------------------------------

      api.handle('rotate_keys', RotateKeysRequest, async (request, ctx: AuthedRequestContext) => {
        const { userId } = ctx.session;
        const newLoginKey = requireValidKey(request.login_key, 'login_key');
        const signature = decodeBase64(request.signature, 'signature', { exactBytes: 64 });
        const user = await findUserById(db, userId);
        if (!user) throw errors.notAuthenticated();
        const identityKey = decodeBase64(user.identityKey, 'identity_key', { exactBytes: 32 });
        if (!ed25519Verify(identityKey, rotateLoginKeyMessage(newLoginKey, userId), signature)) {
          throw errors.badRequest('signature', 'signature is not the identity key\'s signature of the new login key');
        }
        if (Buffer.from(identityKey).equals(newLoginKey)) throw errors.badRequest('login_key', 'login_key must differ from the identity key');
        await updateLoginKey(db, userId, encodeBase64(newLoginKey), Date.now());
        // Sessions opened with the old key end; this connection, which proved the identity key, stays.
        internals.disconnectUser(userId, ctx.connection.id);
        ctx.log.info({ user: shortId(userId) }, 'login key rotated');
        return {};
      });

      // ---- get_user_info -----------------------------------------------------------------------

      api.handle(
        'get_user_info',
        GetUserInfoRequest,
        async (request) => {
          if ((request.user_id === undefined) === (request.email === undefined)) {
            throw errors.badRequest(request.user_id === undefined ? 'user_id' : 'email', 'Give exactly one of user_id or email');
          }
          let user: UserRecord | undefined;
          if (request.user_id !== undefined) {
            user = await findUserById(db, request.user_id);
            if (!user) throw errors.notFound('No such user');
          } else {
            user = await resolveEmail(request.email!);
          }
          return { user_id: user.id, username: user.username, identity_key: user.identityKey };
        },
        { rateLimit: { key: 'user', points: 60, durationSec: 60 } },
      );

      // ---- maintenance -------------------------------------------------------------------------

      api.hooks.maintenance.tap(async ({ now }) => {
        const expired = await deleteExpiredPendingRegistrations(db, now);
        const cutoff = now - config.phantomRetentionDays * DAY_MS;
        let removed = 0;
        for (;;) {
          const stale = await selectStalePhantomIds(db, cutoff, STALE_PHANTOM_BATCH);
          if (stale.length === 0) break;
          // Plugins clean up what they keep about these users (invitations, ...) first.
          for (const userId of stale) await internals.hooks.userDeleting.promise({ userId });
          const deleted = await deletePhantomUsers(db, stale);
          removed += deleted;
          if (deleted === 0 || stale.length < STALE_PHANTOM_BATCH) break;
        }
        if (expired > 0 || removed > 0) log.info({ expired_registrations: expired, stale_phantoms: removed }, 'accounts maintenance');
      });
    },
  });
}
