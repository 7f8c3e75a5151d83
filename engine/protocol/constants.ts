/**
 * Protocol constants shared by the server, the clients and the renderer. Browser-safe.
 */

/** The wire protocol version a `hello` frame advertises. Bumped only for incompatible changes. */
export const PROTOCOL_VERSION = 1;

/** Largest JSON frame (one line, without its terminating newline) a peer accepts by default. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/** Largest raw binary body that may follow a frame by default. */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

/** The frame field announcing that N raw bytes follow the frame on the stream. */
export const BODY_BYTES_FIELD = 'body_bytes';

/** The device id that stands for "my own copy" (self-encrypted history shared by all my devices). */
export const SELF_DEVICE_ID = '00000000-0000-0000-0000-000000000000';

/** The type of the push frame sent when the server could not read a frame and has no request_id to answer. */
export const PROTOCOL_ERROR_EVENT = 'protocol_error';

/** The type of the first frame a server sends on every connection. */
export const HELLO_TYPE = 'hello';

/** Keys of the frame limits that the `hello` frame advertises in `data.limits`. */
export const LIMIT_MAX_FRAME_BYTES = 'max_frame_bytes';
export const LIMIT_MAX_BODY_BYTES = 'max_body_bytes';
