/**
 * core-pairing: linking a new device to an account (docs/PROTOCOL.md, "Device linking").
 *
 * The server is a mailbox with rules. A new device (not logged in) opens a pairing with a
 * commitment to its ephemeral X25519 key and gets an 8-digit code and a poll token; a logged-in
 * device of the account claims the code, both publish their ephemeral keys in a fixed order, and
 * the claimer leaves one end-to-end encrypted payload (the account's keys) for the new device to
 * pick up. The server never sees anything it could decrypt, and the commitment plus the short
 * authentication string both users compare make any key it substitutes visible.
 *
 * Rules kept here: codes and poll tokens are stored as HMACs keyed with the server secret; a live
 * code is unique; a pairing lives PAIRING_TTL_MS; the new device polls with its token (compared in
 * constant time, the original's audit item M11) at most PAIRING_MAX_POLLS times; only the claiming
 * device may publish the approver key, send the payload (once) or cancel as the approver; every
 * answer that would reveal that a pairing exists to someone not part of it is `not_found`.
 */
import { createHash, createHmac, randomBytes, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import { Type } from 'typebox';
import { errors } from '../../errors.js';
import { definePlugin, type AnyPluginDefinition } from '../../plugin/define.js';
import type { AuthedRequestContext, RequestContext, Session } from '../../plugin/server-types.js';
import { decodeBase64, encodeBase64 } from '../../protocol/base64.js';
import { Base64, Uuid } from '../../protocol/validation.js';
import {
  PAIRING_CODE_DIGITS,
  PAIRING_CODE_PATTERN,
  PAIRING_KEY_BYTES,
  PAIRING_MAX_CIPHERTEXT_BYTES,
  pairingCommitmentMessage,
} from '../../protocol/pairing.js';
import { isUniqueViolation } from '../db/dialect.js';
import {
  claimPairing,
  countPoll,
  deleteExpiredPairings,
  deletePairing,
  findLivePairing,
  findLivePairingByCode,
  insertPairing,
  setApproverEphemeral,
  setNewDeviceEphemeral,
  storePairingPayload,
  type PairingRecord,
} from '../db/pairing.js';
import { shortId, who } from '../logger.js';
import { SERVER_VERSION } from '../version.js';
import type { EngineInternals } from './internals.js';

/** How long a pairing lives after pairing_start. */
export const PAIRING_TTL_MS = 120_000;
/** Polls the new device may make during one pairing (a 2 s interval needs 60). */
export const PAIRING_MAX_POLLS = 90;
/** pairing_claim per account per minute: guessing an 8-digit code stays hopeless. */
export const PAIRING_CLAIM_PER_MINUTE = 10;
/** Poll tokens: 16 random bytes, lowercase hex. */
export const POLL_TOKEN_BYTES = 16;

const POLL_TOKEN_PATTERN = `^[0-9a-f]{${POLL_TOKEN_BYTES * 2}}$`;
const CODE_SPACE = 10 ** PAIRING_CODE_DIGITS;
/** Fresh codes tried before giving up (a collision with a live code is already rare). */
const CODE_ATTEMPTS = 8;

const PollToken = () => Type.String({ pattern: POLL_TOKEN_PATTERN, errorMessage: { pattern: 'must be the 32-hex-digit poll token from pairing_start' } });

const StartRequest = Type.Object({ commitment: Base64(PAIRING_KEY_BYTES) });

const ClaimRequest = Type.Object({
  code: Type.String({ pattern: PAIRING_CODE_PATTERN, errorMessage: { pattern: `must be the ${PAIRING_CODE_DIGITS}-digit pairing code` } }),
});

const RevealRequest = Type.Object({
  pairing_id: Uuid(),
  ephemeral_public: Base64(PAIRING_KEY_BYTES),
  poll_token: Type.Optional(PollToken()),
});

const PollRequest = Type.Object({
  pairing_id: Uuid(),
  poll_token: Type.Optional(PollToken()),
});

const SendRequest = Type.Object({
  pairing_id: Uuid(),
  ciphertext: Base64(PAIRING_MAX_CIPHERTEXT_BYTES, { minLength: 1 }),
});

const CancelRequest = PollRequest;

export function createPairingModule(internals: EngineInternals): AnyPluginDefinition {
  const { config, serverSecret } = internals;

  function keyedHash(purpose: string, value: string): string {
    return createHmac('sha256', serverSecret).update(`${purpose}:${value}`).digest('hex');
  }

  const codeHash = (code: string) => keyedHash('pairing-code', code);
  const pollTokenHash = (token: string) => keyedHash('pairing-poll', token);

  function sameHex(a: string, b: string): boolean {
    const x = Buffer.from(a, 'hex');
    const y = Buffer.from(b, 'hex');
    return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
  }

  /** True when `token` is this pairing's poll token (constant time). */
  function tokenMatches(pairing: PairingRecord, token: string | undefined): boolean {
    return token !== undefined && sameHex(pollTokenHash(token), pairing.pollTokenHash);
  }

  /** True when the request comes from the device that claimed this pairing. */
  function isClaimer(pairing: PairingRecord, session: Session | undefined): session is Session {
    return session !== undefined && pairing.approverUserId === session.userId && pairing.approverDeviceId === session.deviceId;
  }

  const gone = () => errors.notFound('No such pairing: it expired, was cancelled, or was never yours');

  return definePlugin({
    name: 'core-pairing',
    version: SERVER_VERSION,
    apiVersion: 1,
    description: 'Device linking: relays commitments, ephemeral keys and one end-to-end encrypted key payload.',
    server(api) {
      const db = api.db;
      const log = api.log;
      // Each type counts in its own bucket (named after the type).
      const pollLimit = { key: 'ip', points: config.rateLimits.pairingPollPerMinute, durationSec: 60 } as const;

      // ---- pairing_start (new device) ----------------------------------------------------------

      api.handle(
        'pairing_start',
        StartRequest,
        async (request) => {
          const commitment = decodeBase64(request.commitment, 'commitment', { exactBytes: PAIRING_KEY_BYTES });
          for (let attempt = 0; attempt < CODE_ATTEMPTS; attempt++) {
            const code = String(randomInt(0, CODE_SPACE)).padStart(PAIRING_CODE_DIGITS, '0');
            const pollToken = randomBytes(POLL_TOKEN_BYTES).toString('hex');
            const id = randomUUID();
            const now = Date.now();
            const expiresAt = now + PAIRING_TTL_MS;
            try {
              await insertPairing(db, {
                id,
                codeHash: codeHash(code),
                pollTokenHash: pollTokenHash(pollToken),
                newDeviceCommitment: encodeBase64(commitment),
                createdAt: now,
                expiresAt,
              });
            } catch (error) {
              // The code belongs to another live pairing: draw again.
              if (isUniqueViolation(error)) continue;
              throw error;
            }
            log.info({ pairing: shortId(id) }, 'pairing started');
            return { pairing_id: id, code, poll_token: pollToken, expires_at: expiresAt, server_time: now };
          }
          throw errors.conflict('Could not allocate a pairing code; try again');
        },
        { auth: false, rateLimit: { key: 'ip', points: config.rateLimits.pairingStartPerMinute, durationSec: 60 } },
      );

      // ---- pairing_claim (approver) ------------------------------------------------------------

      api.handle(
        'pairing_claim',
        ClaimRequest,
        async (request, ctx: AuthedRequestContext) => {
          const now = Date.now();
          const pairing = await findLivePairingByCode(db, codeHash(request.code), now);
          const claimed = pairing !== undefined && pairing.status === 'waiting' && (await claimPairing(db, pairing.id, ctx.session, now));
          if (!pairing || !claimed) throw errors.notFound('No pairing with this code: it is wrong, expired or already used');
          ctx.log.info({ pairing: shortId(pairing.id), who: who(ctx.session) }, 'pairing claimed');
          return {
            pairing_id: pairing.id,
            new_device_commitment: pairing.newDeviceCommitment,
            expires_at: pairing.expiresAt,
            server_time: now,
          };
        },
        { rateLimit: { key: 'user', points: PAIRING_CLAIM_PER_MINUTE, durationSec: 60 } },
      );

      // ---- pairing_reveal (either side) --------------------------------------------------------

      api.handle(
        'pairing_reveal',
        RevealRequest,
        async (request, ctx: RequestContext) => {
          const key = decodeBase64(request.ephemeral_public, 'ephemeral_public', { exactBytes: PAIRING_KEY_BYTES });
          const now = Date.now();
          const pairing = await findLivePairing(db, request.pairing_id, now);
          if (!pairing) throw gone();
          const encoded = encodeBase64(key);

          if (request.poll_token !== undefined) {
            // The new device opens its commitment, after it has seen the approver's key.
            if (!tokenMatches(pairing, request.poll_token)) throw gone();
            const expected = decodeBase64(pairing.newDeviceCommitment, 'commitment', { exactBytes: PAIRING_KEY_BYTES });
            const actual = createHash('sha256').update(pairingCommitmentMessage(key)).digest();
            if (!timingSafeEqual(actual, expected)) {
              throw errors.badRequest('ephemeral_public', 'ephemeral_public does not match the commitment given in pairing_start');
            }
            if (pairing.approverEphemeral === null) throw errors.conflict('The approving device has not published its key yet');
            if (pairing.newDeviceEphemeral !== null) throw errors.conflict('The key was already published');
            if (!(await setNewDeviceEphemeral(db, pairing.id, encoded, now))) throw errors.conflict('The key was already published');
            return {};
          }

          // The approver publishes its key, once, after it received the new device's commitment.
          if (!isClaimer(pairing, ctx.session)) throw gone();
          if (pairing.approverEphemeral !== null) throw errors.conflict('The key was already published');
          if (!(await setApproverEphemeral(db, pairing.id, ctx.session, encoded, now))) throw errors.conflict('The key was already published');
          return {};
        },
        { auth: false, rateLimit: pollLimit },
      );

      // ---- pairing_poll (either side) ----------------------------------------------------------

      api.handle(
        'pairing_poll',
        PollRequest,
        async (request, ctx: RequestContext) => {
          const now = Date.now();
          const pairing = await findLivePairing(db, request.pairing_id, now);
          if (!pairing) throw gone();

          if (request.poll_token !== undefined) {
            if (!tokenMatches(pairing, request.poll_token)) throw gone();
            if (!(await countPoll(db, pairing.id, PAIRING_MAX_POLLS, now))) {
              await deletePairing(db, pairing.id);
              log.info({ pairing: shortId(pairing.id) }, 'pairing dropped: too many polls');
              throw errors.notFound('No such pairing: it was polled too often and has been removed');
            }
            if (pairing.status === 'waiting') return { status: 'waiting', expires_at: pairing.expiresAt };
            if (pairing.status === 'claimed') {
              return pairing.approverEphemeral === null
                ? { status: 'claimed', expires_at: pairing.expiresAt }
                : { status: 'claimed', approver_ephemeral_public: pairing.approverEphemeral, expires_at: pairing.expiresAt };
            }
            // Delivered once: the payload leaves the server as soon as the new device has it.
            await deletePairing(db, pairing.id);
            log.info({ pairing: shortId(pairing.id) }, 'pairing payload delivered');
            return {
              status: 'ready',
              approver_ephemeral_public: pairing.approverEphemeral,
              ciphertext: pairing.ciphertext,
              expires_at: pairing.expiresAt,
            };
          }

          // The approver waits for the new device's key.
          if (!isClaimer(pairing, ctx.session)) throw gone();
          return pairing.newDeviceEphemeral === null
            ? { status: pairing.status, expires_at: pairing.expiresAt }
            : { status: pairing.status, new_device_ephemeral_public: pairing.newDeviceEphemeral, expires_at: pairing.expiresAt };
        },
        { auth: false, rateLimit: pollLimit },
      );

      // ---- pairing_send (approver) -------------------------------------------------------------

      api.handle(
        'pairing_send',
        SendRequest,
        async (request, ctx: AuthedRequestContext) => {
          const ciphertext = decodeBase64(request.ciphertext, 'ciphertext', { maxBytes: PAIRING_MAX_CIPHERTEXT_BYTES });
          const now = Date.now();
          const pairing = await findLivePairing(db, request.pairing_id, now);
          if (!pairing || !isClaimer(pairing, ctx.session)) throw gone();
          if (pairing.status === 'ready') throw errors.conflict('The keys were already sent for this pairing');
          if (pairing.approverEphemeral === null) throw errors.conflict('Publish your ephemeral key (pairing_reveal) before sending');
          if (!(await storePairingPayload(db, pairing.id, ctx.session, encodeBase64(ciphertext), now))) {
            throw errors.conflict('The keys were already sent for this pairing');
          }
          ctx.log.info({ pairing: shortId(pairing.id), who: who(ctx.session) }, 'pairing payload stored');
          return {};
        },
        { rateLimit: { key: 'user', points: 30, durationSec: 60 } },
      );

      // ---- pairing_cancel (either side) --------------------------------------------------------

      api.handle(
        'pairing_cancel',
        CancelRequest,
        async (request, ctx: RequestContext) => {
          const pairing = await findLivePairing(db, request.pairing_id, Date.now());
          if (!pairing) throw gone();
          const allowed = request.poll_token !== undefined ? tokenMatches(pairing, request.poll_token) : isClaimer(pairing, ctx.session);
          if (!allowed) throw gone();
          await deletePairing(db, pairing.id);
          log.info({ pairing: shortId(pairing.id) }, 'pairing cancelled');
          return {};
        },
        { auth: false, rateLimit: pollLimit },
      );

      // ---- maintenance -------------------------------------------------------------------------

      api.hooks.maintenance.tap(async ({ now }) => {
        const expired = await deleteExpiredPairings(db, now);
        if (expired > 0) log.info({ expired_pairings: expired }, 'pairing maintenance');
      });
    },
  });
}
