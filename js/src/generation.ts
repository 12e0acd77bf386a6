// The generation view's shared state (one per widget, beside the Store): the user's draft
// (prompt, target, options) and the last attribution record, built from the kernel's
// llm_started / llm_rows / llm_result messages as they stream in. Views subscribe and redraw.

import type { GenerationRecord, LLMMessage, LLMSettings, RequestId, Spec } from "./types";
import { decodeCached } from "./wire";

/** What the user is editing: the attribution settings other than the method, and the
 * length of a generated target. */
export type Draft = Omit<LLMSettings, "method" | "arguments"> & { max_new_tokens: number };

export type GenerationChange = "draft" | "record";
type Listener = (what: GenerationChange, source: unknown) => void;

/** The matrix of a record: T x M values (rows not yet computed are absent). */
export interface Matrix {
  inputTokens: string[];
  outputTokens: string[];
  /** one Float32Array of M values per computed row, by row index */
  rows: (Float32Array | undefined)[];
  probs: (number | undefined)[];
  seq: Float32Array | null;
}

export class Generation {
  draft: Draft;
  record: GenerationRecord;
  /** the attribute request whose replies build the record */
  current: RequestId | null = null;
  private listeners = new Set<Listener>();

  constructor(spec: Spec, record: GenerationRecord = {}) {
    const llm = spec.llm;
    this.record = record;
    this.draft = {
      prompt: record.prompt ?? llm?.prompts[0] ?? "",
      target: record.target ?? "",
      granularity: record.granularity ?? llm?.granularities[0] ?? "tokens",
      baseline: record.baseline ?? llm?.baselines[0] ?? "pad",
      baseline_text: record.baseline_text ?? "",
      attr_target: record.attr_target ?? llm?.attr_targets[0] ?? "log_prob",
      rows_per_chunk: Number(llm?.rows_per_chunk.default ?? 0),
      max_new_tokens: llm?.default_max_new_tokens ?? 8,
    };
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(what: GenerationChange, source: unknown = null): void {
    this.listeners.forEach((listener) => listener(what, source));
  }

  /** Change the draft (made by ``source``, a view: the others re-sync their controls). */
  update(change: Partial<Draft>, source: unknown): void {
    this.draft = { ...this.draft, ...change };
    this.emit("draft", source);
  }

  settings(method: string, args: Record<string, unknown>): LLMSettings {
    const { max_new_tokens: _, ...rest } = this.draft;
    return { method, arguments: { ...args }, ...rest };
  }

  /** Apply a reply of the generation view; replies of an older request are ignored. */
  apply(message: LLMMessage): void {
    switch (message.type) {
      case "generated":
        this.update({ target: message.target }, null);
        return;
      case "llm_started": {
        const { type: _, ...info } = message;
        this.current = message.id;
        this.record = { ...info, chunks: [] };
        this.emit("record");
        return;
      }
      case "llm_rows": {
        if (message.id !== this.current) return;
        const { type: _, id: __, ...chunk } = message;
        this.record = { ...this.record, input_tokens: chunk.input_tokens, chunks: [...(this.record.chunks ?? []), chunk] };
        this.emit("record");
        return;
      }
      case "llm_result":
        if (message.id !== this.current) return;
        // the result leaves out the row chunks, which arrived before it
        this.record = { ...message.record, chunks: this.record.chunks ?? [] };
        if (message.record.target) this.draft = { ...this.draft, target: message.record.target };
        this.emit("record");
        this.emit("draft");
    }
  }
}

/** The record's matrix, decoded (cached per wire tensor). */
export function matrixOf(record: GenerationRecord): Matrix {
  const rows: (Float32Array | undefined)[] = [];
  const probs: (number | undefined)[] = [];
  const outputTokens: string[] = [...(record.output_tokens ?? [])];
  let inputTokens = record.input_tokens ?? [];
  for (const chunk of record.chunks ?? []) {
    const decoded = decodeCached(chunk.rows);
    const [k, m] = decoded.shape;
    const p = chunk.probs ? decodeCached(chunk.probs).values : null;
    for (let i = 0; i < k; i++) {
      rows[chunk.start + i] = Float32Array.from(decoded.values.subarray(i * m, (i + 1) * m));
      probs[chunk.start + i] = p ? p[i] : undefined;
      outputTokens[chunk.start + i] = chunk.output_tokens[i];
    }
    inputTokens = chunk.input_tokens;
  }
  const seq = record.seq_attr ? Float32Array.from(decodeCached(record.seq_attr).values) : null;
  return { inputTokens, outputTokens, rows, probs, seq };
}
