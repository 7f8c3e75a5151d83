/** What the benchmark and its bare TLS forwarder (./forwarder-child.ts) say to each other. */
export type ForwarderRequest = { type: 'stats'; id: number; reset?: boolean } | { type: 'stop' };

export type ForwarderReply =
  | { type: 'ready'; port: number; certificate: string }
  | { type: 'stats'; id: number; cpuMs: number; rssBytes: number; forwarded: number }
  | { type: 'stopped' };
