/**
 * Engine services a plugin may call (`api.core`). They answer questions every feature has — who
 * is this user, is this user a member, which conversation does this message belong to — so that
 * plugins never query the engine's tables directly.
 */
export interface UserSummary {
  readonly id: string;
  readonly username: string;
}

export interface ConversationSummary {
  readonly id: string;
  readonly kind: 'dm' | 'group';
  readonly name: string | null;
  readonly createdBy: string | null;
  readonly createdAt: number;
}

export interface MessageMeta {
  readonly id: string;
  readonly conversationId: string;
  readonly senderId: string;
  readonly senderDeviceId: string;
  readonly kind: 'message' | 'control';
  readonly createdAt: number;
  readonly deletedAt: number | null;
}

export interface CoreServices {
  readonly users: {
    get(userId: string): Promise<UserSummary | undefined>;
    getMany(userIds: Iterable<string>): Promise<Map<string, UserSummary>>;
    /** Resolves an email to a user id, creating an unregistered placeholder account when needed (anti-enumeration). */
    resolveEmail(email: string): Promise<UserSummary>;
  };
  readonly conversations: {
    get(conversationId: string): Promise<ConversationSummary | undefined>;
    memberIds(conversationId: string): Promise<string[]>;
    isMember(conversationId: string, userId: string): Promise<boolean>;
    /** The conversation if `userId` is a member; otherwise throws not_found (never reveals existence). */
    requireMember(conversationId: string, userId: string): Promise<ConversationSummary>;
    /**
     * Adds a member directly, without the memberAdding guard (for a plugin that took an addition
     * over and now completes it), pushes `member_added` / `conversation_created`, fires memberAdded.
     */
    addMember(conversationId: string, userId: string, by: string, reason: string): Promise<void>;
  };
  readonly messages: {
    get(messageId: string): Promise<MessageMeta | undefined>;
    /** The message if it exists, is not deleted and `userId` is a member of its conversation; otherwise not_found. */
    requireVisible(messageId: string, userId: string): Promise<MessageMeta>;
    /**
     * Which of these messages of a conversation the user may see — the rule of requireVisible for
     * many ids at once (a member; not deleted; not before the user joined nor hidden by a "delete
     * for me"; a control message only when addressed to the user): one query per 500 ids. Ids of
     * other conversations, unknown ids and everything for a non-member are left out.
     */
    visibleIds(conversationId: string, userId: string, messageIds: readonly string[]): Promise<Set<string>>;
    /** Like visibleIds, with each visible message's metadata, in the order of `messageIds` (duplicates once). */
    visible(conversationId: string, userId: string, messageIds: readonly string[]): Promise<MessageMeta[]>;
  };
  readonly presence: {
    isOnline(userId: string): boolean;
  };
}
