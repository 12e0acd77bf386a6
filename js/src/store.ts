// Shared front-end state of one widget: the examples on screen and the requests in flight.
// The widget's single custom-message handler (see shared.ts) applies the kernel's replies here
// once, and every view of the widget redraws from it, so views stay in step.

import type { Example, KernelMessage, ModelResult, RequestId, Status } from "./types";

export interface Progress {
  id: RequestId;
  fraction: number;
  label: string;
}

export type StoreChange = "examples" | "progress" | "status";
type Listener = (what: StoreChange) => void;

export class Store {
  examples: Example[];
  currentFetch: RequestId | null = null;
  running = new Set<RequestId>();
  progress: Progress | null = null;
  status: Status;
  private listeners = new Set<Listener>();

  constructor(examples: Example[], status: Status) {
    this.examples = examples;
    this.status = status ?? {};
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(what: StoreChange): void {
    this.listeners.forEach((listener) => listener(what));
  }

  started(id: RequestId, kind: string): void {
    this.running.add(id);
    if (kind === "fetch") this.currentFetch = id;
    this.progress = { id, fraction: 0, label: "" };
    this.emit("progress");
  }

  /** Apply a kernel reply (buffers already restored). Returns whether examples changed. */
  apply(message: KernelMessage): boolean {
    switch (message.type) {
      case "fetch_started":
        if (this.currentFetch === message.id && this.examples.length === 0) return false;
        this.currentFetch = message.id;
        this.examples = [];
        this.emit("examples");
        return true;
      case "example": {
        if (message.id !== this.currentFetch) return false; // superseded request
        const example = message.example;
        const index = this.examples.findIndex((e) => e.id === example.id);
        this.examples = index < 0 ? [...this.examples, example] : this.examples.map((e, i) => (i === index ? example : e));
        this.emit("examples");
        return true;
      }
      case "result":
        return this.setResult(message.example, message.model, message.result, message.compare ?? null);
      case "progress":
        this.progress = { id: message.id, fraction: message.fraction, label: message.label ?? "" };
        this.running.add(message.id);
        this.emit("progress");
        return false;
      case "done":
        this.running.delete(message.id);
        if (!this.running.size) this.progress = null;
        this.status = message;
        this.emit("progress");
        this.emit("status");
        return false;
      default: // "export" and the generation view's replies (shared.ts routes those)
        return false;
    }
  }

  setResult(exampleId: number, model: number, result: ModelResult, second: ModelResult | null = null): boolean {
    const index = this.examples.findIndex((e) => e.id === exampleId);
    if (index < 0) return false;
    const old = this.examples[index];
    if (old.models[model] === result && (old.compare?.[model] ?? null) === second) return false;
    const models = old.models.slice();
    models[model] = result;
    const compare = (old.compare ?? []).slice();
    while (compare.length < models.length) compare.push(null);
    compare[model] = second;
    this.examples = this.examples.map((e, i) => (i === index ? { ...old, models, compare } : e));
    this.emit("examples");
    return true;
  }
}
