// Kernel replies as they arrive (untyped JSON plus binary buffers) -> typed KernelMessages.

import type { Buffers, KernelMessage } from "./types";
import { restoreBuffers } from "./wire";

const KINDS = new Set<KernelMessage["type"]>([
  "fetch_started", "progress", "example", "result", "done", "export",
  "generated", "llm_started", "llm_rows", "llm_result", "quality", "reply",
]);

interface Envelope {
  type: KernelMessage["type"];
  buffer_paths?: (string | number)[][];
}

function isEnvelope(content: unknown): content is Envelope {
  if (!content || typeof content !== "object") return false;
  const type = (content as { type?: unknown }).type;
  return typeof type === "string" && KINDS.has(type as KernelMessage["type"]);
}

/** The reply with its bytes restored, or null for anything that is not one of ours. */
export function parseKernelMessage(content: unknown, buffers: Buffers = []): KernelMessage | null {
  if (!isEnvelope(content)) return null;
  // the kernel names each message's fields by its type (session.py); trust the shape from here
  return restoreBuffers(content, content.buffer_paths ?? [], buffers) as unknown as KernelMessage;
}
