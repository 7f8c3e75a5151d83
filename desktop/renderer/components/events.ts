/**
 * The events components send upwards (bubbling, composed), by name and detail.
 */
import type { BridgeMessage } from '../../shared/bridge.js';

export type DialogRequest =
  | { readonly kind: 'new-dm' }
  | { readonly kind: 'new-group' }
  | { readonly kind: 'conversation-info'; readonly conversationId: string }
  | { readonly kind: 'settings' };

/** Opens a dialog of the main window. */
export const OPEN_DIALOG = 'kecalek-open-dialog';
/** Reply to a message (detail: the message). */
export const REPLY = 'kecalek-reply';
/** Scroll to a message and highlight it (detail: { messageId }). */
export const JUMP = 'kecalek-jump';

export interface JumpDetail {
  readonly messageId: string;
}

export type ReplyDetail = BridgeMessage;
