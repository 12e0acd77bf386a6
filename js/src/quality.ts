// The per-example quality panels' state, shared by every view of a widget: for each
// (example, model, compared?) the last request, the map it measured (the ModelResult object:
// a new map makes the panel stale) and the parts streamed so far ("quality" messages), until
// the request's "done".

import type { KernelMessage, ModelResult, QualityMessage, RequestId } from "./types";

export type QualityPartName = QualityMessage["part"];
export const QUALITY_PARTS: QualityPartName[] = ["deletion", "insertion", "infidelity", "sensitivity"];

export interface QualityState {
  id: RequestId;
  /** the map measured; the panel shows only while the card still shows this map */
  result: ModelResult;
  parts: Partial<Record<QualityPartName, QualityMessage>>;
  state: "running" | "complete" | "cancelled" | "superseded" | "error";
  message: string;
}

type Done = Extract<KernelMessage, { type: "done" }>;

export function qualityKey(example: number, model: number, compare: boolean): string {
  return `${example}:${model}:${compare ? "compare" : "main"}`;
}

export class QualityStore {
  private states = new Map<string, QualityState>();
  private byRequest = new Map<RequestId, string>();
  private listeners = new Set<() => void>();

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    this.listeners.forEach((listener) => listener());
  }

  get(example: number, model: number, compare: boolean): QualityState | undefined {
    return this.states.get(qualityKey(example, model, compare));
  }

  /** A request was sent: its panel starts empty, running. */
  started(id: RequestId, example: number, model: number, compare: boolean, result: ModelResult): void {
    const key = qualityKey(example, model, compare);
    const old = this.states.get(key);
    if (old) this.byRequest.delete(old.id);
    this.states.set(key, { id, result, parts: {}, state: "running", message: "" });
    this.byRequest.set(id, key);
    this.changed();
  }

  /** Apply a kernel reply; returns whether it belonged to a quality request. */
  apply(message: KernelMessage): boolean {
    if (message.type !== "quality" && message.type !== "done") return false;
    const key = this.byRequest.get(message.id);
    const state = key ? this.states.get(key) : undefined;
    if (!state || state.id !== message.id) return false;
    if (message.type === "quality") {
      state.parts = { ...state.parts, [message.part]: message };
    } else {
      const done = message as Done;
      state.state = (done.state as QualityState["state"]) ?? "complete";
      state.message = done.message ?? "";
      this.byRequest.delete(message.id);
    }
    this.changed();
    return true;
  }
}
