/**
 * core-keys: a user's devices and each device's pre-keys — what X3DH needs to start a session
 * with every device of a peer.
 *
 * A device holds one signed pre-key (verified against the account's identity key on upload,
 * replaced on rotation) and up to MAX_STORED_ONE_TIME_PREKEYS one-time pre-keys. `get_key_bundle`
 * hands out one bundle per device and consumes one one-time pre-key for each, atomically, so two
 * concurrent fetches never receive the same one (the original's audit item H12).
 */
import { Type } from 'typebox';
import { errors } from '../../errors.js';
import { definePlugin, type AnyPluginDefinition } from '../../plugin/define.js';
import type { AuthedRequestContext } from '../../plugin/server-types.js';
import { decodeBase64 } from '../../protocol/base64.js';
import { Base64, Uuid } from '../../protocol/validation.js';
import { randomInt } from 'node:crypto';
import { ed25519Verify, generateOneTimePreKeys, signedPreKeySignatureMessage, wipe } from '../../crypto/index.js';
import { encodeBase64 } from '../../protocol/base64.js';
import { findUserById } from '../db/users.js';
import { listDevices, removeDevice } from '../db/devices.js';
import {
  consumeOneTimePreKey,
  countOneTimePreKeys,
  findSignedPreKey,
  findSignedPreKeys,
  insertOneTimePreKeys,
  upsertSignedPreKey,
  type OneTimePreKeyRecord,
} from '../db/prekeys.js';
import { SERVER_VERSION } from '../version.js';
import { shortId } from '../logger.js';
import { PHANTOM_ONE_TIME_PREKEYS } from './accounts.js';
import type { EngineInternals } from './internals.js';
import { LastSeenRecorder } from './last-seen.js';

/** Most one-time pre-keys in one upload. */
export const MAX_ONE_TIME_PREKEYS_PER_UPLOAD = 100;
/** Most one-time pre-keys stored for one device. */
export const MAX_STORED_ONE_TIME_PREKEYS = 200;
export const MAX_KEY_ID = 0xffffffff;

const KeyId = () => Type.Integer({ minimum: 0, maximum: MAX_KEY_ID });

const SignedPreKeyUpload = Type.Object({
  key_id: KeyId(),
  public_key: Base64(32),
  signature: Base64(64),
});

const OneTimePreKeyUpload = Type.Object({
  key_id: KeyId(),
  public_key: Base64(32),
});

const UploadPreKeysRequest = Type.Object({
  signed_prekey: Type.Optional(SignedPreKeyUpload),
  one_time_prekeys: Type.Optional(Type.Array(OneTimePreKeyUpload, { maxItems: MAX_ONE_TIME_PREKEYS_PER_UPLOAD })),
});

const EmptyRequest = Type.Object({});

const RemoveDeviceRequest = Type.Object({ device_id: Uuid() });

type UploadPreKeys = {
  signed_prekey?: { key_id: number; public_key: string; signature: string };
  one_time_prekeys?: Array<{ key_id: number; public_key: string }>;
};

export function createKeysModule(internals: EngineInternals): AnyPluginDefinition {
  const { config } = internals;

  return definePlugin({
    name: 'core-keys',
    version: SERVER_VERSION,
    apiVersion: 1,
    dependsOn: ['core-accounts'],
    description: 'Devices, signed pre-keys, one-time pre-keys and key bundles.',
    server(api) {
      const db = api.db;

      /** Stores what an upload carries for the calling device; checks everything before storing anything. */
      async function upload(request: UploadPreKeys, ctx: AuthedRequestContext): Promise<void> {
        const { userId, deviceId } = ctx.session;
        let signed: { keyId: number; publicKey: string; signature: string } | undefined;
        if (request.signed_prekey) {
          const spk = request.signed_prekey;
          const publicKey = decodeBase64(spk.public_key, 'signed_prekey.public_key', { exactBytes: 32 });
          const signature = decodeBase64(spk.signature, 'signed_prekey.signature', { exactBytes: 64 });
          const user = await findUserById(db, userId);
          if (!user) throw errors.notAuthenticated();
          const identityKey = decodeBase64(user.identityKey, 'identity_key', { exactBytes: 32 });
          if (!ed25519Verify(identityKey, signedPreKeySignatureMessage(publicKey), signature)) {
            throw errors.badRequest('signed_prekey.signature', "signed_prekey.signature is not the identity key's signature of this pre-key");
          }
          signed = { keyId: spk.key_id, publicKey: spk.public_key, signature: spk.signature };
        }
        const oneTime: OneTimePreKeyRecord[] = [];
        for (const [index, key] of (request.one_time_prekeys ?? []).entries()) {
          decodeBase64(key.public_key, `one_time_prekeys[${index}].public_key`, { exactBytes: 32 });
          oneTime.push({ keyId: key.key_id, publicKey: key.public_key });
        }
        if (oneTime.length > 0) {
          const result = await insertOneTimePreKeys(db, { userId, deviceId }, oneTime, MAX_STORED_ONE_TIME_PREKEYS);
          if (!result.ok) {
            throw errors.payloadTooLarge('one_time_prekeys', MAX_STORED_ONE_TIME_PREKEYS);
          }
        }
        if (signed) {
          await upsertSignedPreKey(db, { deviceId, userId, ...signed, createdAt: Date.now() });
        }
      }

      /**
       * A real client keeps its device supplied with one-time pre-keys; a phantom has nobody to do
       * that, so the server makes new ones (and forgets their private halves) rather than let an
       * empty supply set phantoms apart.
       */
      async function refillPhantom(userId: string, deviceId: string): Promise<OneTimePreKeyRecord | undefined> {
        const keys = generateOneTimePreKeys(randomInt(1, 2 ** 31 - 1 - PHANTOM_ONE_TIME_PREKEYS), PHANTOM_ONE_TIME_PREKEYS);
        try {
          await insertOneTimePreKeys(
            db,
            { userId, deviceId },
            keys.map((key) => ({ keyId: key.keyId, publicKey: encodeBase64(key.publicKey) })),
            MAX_STORED_ONE_TIME_PREKEYS,
          );
        } finally {
          wipe(...keys.map((key) => key.privateKey));
        }
        return consumeOneTimePreKey(db, deviceId);
      }

      async function prekeyStatus(deviceId: string): Promise<{ count: number; spk_created_at: number | null; spk_key_id: number | null }> {
        const [count, spk] = await Promise.all([countOneTimePreKeys(db, deviceId), findSignedPreKey(db, deviceId)]);
        return { count, spk_created_at: spk?.createdAt ?? null, spk_key_id: spk?.keyId ?? null };
      }

      // ---- devices -----------------------------------------------------------------------------

      api.handle('list_devices', EmptyRequest, async (_request, ctx: AuthedRequestContext) => {
        const { userId, deviceId } = ctx.session;
        const devices = await listDevices(db, userId);
        return {
          devices: devices.map((device) => ({
            device_id: device.id,
            name: device.name,
            created_at: device.createdAt,
            last_seen_at: device.lastSeenAt,
            current: device.id === deviceId,
            online: internals.registry.deviceConnections(userId, device.id).length > 0,
          })),
        };
      });

      api.handle('remove_device', RemoveDeviceRequest, async (request, ctx: AuthedRequestContext) => {
        const { userId, deviceId } = ctx.session;
        if (request.device_id === deviceId) {
          throw errors.conflict('This is the device you are using; log out instead, or remove it from another device');
        }
        if (!(await removeDevice(db, userId, request.device_id, Date.now()))) throw errors.notFound('No such device');
        internals.disconnectDevice(userId, request.device_id);
        const remaining = await listDevices(db, userId);
        api.notifyDevices(
          remaining.map((device) => ({ userId, deviceId: device.id, data: { device_id: request.device_id } })),
          'device_removed',
          { exceptConnectionId: ctx.connection.id },
        );
        ctx.log.info({ device: shortId(request.device_id) }, 'device removed');
        return {};
      });

      // ---- pre-keys ----------------------------------------------------------------------------

      api.handle('upload_prekeys', UploadPreKeysRequest, async (request, ctx: AuthedRequestContext) => {
        if (request.signed_prekey === undefined && (request.one_time_prekeys === undefined || request.one_time_prekeys.length === 0)) {
          throw errors.badRequest('signed_prekey', 'Give signed_prekey, one_time_prekeys or both');
        }
        await upload(request, ctx);
        const status = await prekeyStatus(ctx.session.deviceId);
        return { one_time_prekey_count: status.count, spk_created_at: status.spk_created_at };
      });

      api.handle('get_prekey_count', EmptyRequest, async (_request, ctx: AuthedRequestContext) => prekeyStatus(ctx.session.deviceId));

      api.handle('ensure_prekeys', UploadPreKeysRequest, async (request, ctx: AuthedRequestContext) => {
        await upload(request, ctx);
        return prekeyStatus(ctx.session.deviceId);
      });

      // ---- key bundles -------------------------------------------------------------------------

      api.handle(
        'get_key_bundle',
        Type.Object({
          user_id: Uuid(),
          device_ids: Type.Optional(Type.Array(Uuid(), { maxItems: Math.max(1, config.limits.maxDevicesPerUser) })),
        }),
        async (request, ctx: AuthedRequestContext) => {
          const user = await findUserById(db, request.user_id);
          if (!user) throw errors.notFound('No such user');
          const wanted = request.device_ids ? new Set(request.device_ids) : undefined;
          const own = user.id === ctx.session.userId;
          const devices = (await listDevices(db, user.id)).filter(
            (device) => (wanted === undefined || wanted.has(device.id)) && !(own && device.id === ctx.session.deviceId),
          );
          const signedPreKeys = await findSignedPreKeys(
            db,
            devices.map((device) => device.id),
          );
          const bundles = [];
          for (const device of devices) {
            const spk = signedPreKeys.get(device.id);
            if (!spk) continue;
            let oneTime = await consumeOneTimePreKey(db, device.id);
            if (!oneTime && user.phantom) oneTime = await refillPhantom(user.id, device.id);
            bundles.push({
              device_id: device.id,
              signed_prekey: { key_id: spk.keyId, public_key: spk.publicKey, signature: spk.signature },
              one_time_prekey: oneTime ? { key_id: oneTime.keyId, public_key: oneTime.publicKey } : null,
            });
          }
          return { user_id: user.id, username: user.username, identity_key: user.identityKey, devices: bundles };
        },
        { rateLimit: { key: 'user', points: 120, durationSec: 60 } },
      );

      // ---- last seen ---------------------------------------------------------------------------

      // Written behind in batches (last-seen.ts: one commit per login was the login's main cost).
      const lastSeen = new LastSeenRecorder(db, api.log);
      api.onShutdown(() => lastSeen.close());

      api.hooks.authenticated.tap(async ({ session }) => {
        lastSeen.touch(session.userId, session.deviceId, Date.now());
      });

      api.hooks.disconnect.tap(async ({ session }) => {
        if (session) lastSeen.touch(session.userId, session.deviceId, Date.now());
      });
    },
  });
}
