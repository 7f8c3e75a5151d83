/**
 * The argument shapes of every bridge method, checked before the client core sees them (the
 * renderer is the less trusted side). Unknown fields are refused: a typo in the renderer shows up
 * at once as `bad_request` naming the field instead of being silently ignored.
 */
import { Type, type TSchema } from 'typebox';
import { compileSchema, type SchemaValidator } from '../../engine/protocol/validation.js';
import type { BridgeMethod } from '../shared/bridge.js';

const Id = () => Type.String({ minLength: 1, maxLength: 200 });
const Email = () => Type.String({ minLength: 3, maxLength: 320 });
const Password = () => Type.String({ minLength: 1, maxLength: 4096 });
const Text = (max: number) => Type.String({ maxLength: max });
const Strict = (properties: Parameters<typeof Type.Object>[0]) => Type.Object(properties, { additionalProperties: false });
const NoArgs = () => Strict({});

export const METHOD_SCHEMAS: { readonly [M in BridgeMethod]: TSchema } = {
  getState: NoArgs(),
  setSettings: Strict({ theme: Type.Optional(Type.Union([Type.Literal('system'), Type.Literal('dark'), Type.Literal('light')])) }),

  register: Strict({ username: Type.String({ minLength: 1, maxLength: 64 }), email: Email(), password: Password() }),
  confirmRegistration: Strict({ code: Type.String({ minLength: 1, maxLength: 64 }) }),
  login: Strict({ email: Email(), password: Password() }),
  logout: NoArgs(),

  startLinking: NoArgs(),
  linkingSas: NoArgs(),
  acceptLinking: Strict({ password: Password() }),
  cancelLinking: NoArgs(),
  approveLinking: Strict({ input: Type.String({ minLength: 1, maxLength: 4096 }) }),
  confirmApproval: NoArgs(),
  cancelApproval: NoArgs(),

  listConversations: Strict({ refresh: Type.Optional(Type.Boolean()) }),
  getConversation: Strict({ conversationId: Id(), refresh: Type.Optional(Type.Boolean()) }),
  createDm: Strict({ email: Email() }),
  createGroup: Strict({ name: Type.String({ minLength: 1, maxLength: 200 }), emails: Type.Array(Email(), { maxItems: 1000 }) }),
  addMember: Strict({ conversationId: Id(), email: Email() }),
  removeMember: Strict({ conversationId: Id(), userId: Id() }),
  leaveGroup: Strict({ conversationId: Id() }),
  renameConversation: Strict({ conversationId: Id(), name: Type.String({ minLength: 1, maxLength: 200 }) }),
  deleteConversation: Strict({ conversationId: Id() }),

  getCachedMessages: Strict({ conversationId: Id() }),
  syncConversation: Strict({ conversationId: Id() }),
  loadOlder: Strict({
    conversationId: Id(),
    beforeTs: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  }),
  sendMessage: Strict({
    conversationId: Id(),
    text: Text(1_000_000),
    replyTo: Type.Optional(Id()),
    payload: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    clientMsgId: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  }),
  retryMessage: Strict({ conversationId: Id(), clientMsgId: Type.String({ minLength: 1, maxLength: 100 }) }),
  deleteMessage: Strict({ conversationId: Id(), messageId: Id() }),
  markRead: Strict({ conversationId: Id(), messageIds: Type.Optional(Type.Array(Id(), { maxItems: 10_000 })) }),

  listDevices: NoArgs(),
  removeDevice: Strict({ deviceId: Id() }),
  onlineUsers: NoArgs(),

  pluginCall: Strict({
    plugin: Type.String({ minLength: 1, maxLength: 100 }),
    method: Type.String({ minLength: 1, maxLength: 100 }),
    args: Type.Array(Type.Unknown(), { maxItems: 100 }),
  }),
};

const compiled = new Map<BridgeMethod, SchemaValidator<TSchema>>();

/** The validated arguments, or throws WireError('bad_request', ..., {field}). */
export function validateArgs(method: BridgeMethod, args: unknown): unknown {
  let validator = compiled.get(method);
  if (!validator) {
    validator = compileSchema(METHOD_SCHEMAS[method]);
    compiled.set(method, validator);
  }
  return validator(args === undefined || args === null ? {} : args);
}
