// How a standalone page reaches the kernel: not at all (the offline export), or serve()'s
// HTTP endpoints: POST /send, long-poll GET /poll?after=<seq> (same origin; the server's
// cookie carries the token, see server.py).

import type { FrontendMessage } from "../types";

export interface Transport {
  static: boolean;
  send(content: FrontendMessage): void;
  start(receive: (content: unknown) => void): void;
}

export const staticTransport: Transport = { static: true, send: () => {}, start: () => {} };

interface PollReply {
  messages: { seq: number; content: unknown }[];
}

const RETRY_MS = 1000;

export function httpTransport(after: number): Transport {
  return {
    static: false,
    send: (content) => {
      void fetch("send", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(content) });
    },
    start: async (receive) => {
      let seq = after;
      for (;;) {
        try {
          const response = await fetch(`poll?after=${seq}`);
          if (!response.ok) throw new Error(`poll: HTTP ${response.status}`);
          const reply = (await response.json()) as PollReply;
          for (const item of reply.messages) {
            seq = item.seq;
            receive(item.content);
          }
        } catch {
          // the server is busy, restarting or gone: retry, never hammer it
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        }
      }
    },
  };
}
