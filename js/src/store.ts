// Shared front-end state of one widget instance: the examples on screen and the requests in
// flight. Every view of the widget applies the kernel's replies here; applying a reply twice
// (two views both receive it) changes nothing, so views stay in step.

import type { Example, ModelResult, Status, WidgetModel } from "./types";
import { restoreBuffers } from "./wire";

export interface Progress {
  id: unknown;
  fraction: number;
  label: string;
}

type Listener = (what: "examples" | "progress" | "status") => void;

export class Store {
  examples: Example[];
  currentFetch: unknown = null;
  running = new Set<unknown>();
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

  private emit(what: "examples" | "progress" | "status"): void {
    this.listeners.forEach((listener) => listener(what));
  }

  started(id: unknown, kind: string): void {
    this.running.add(id);
    if (kind === "fetch") this.currentFetch = id;
    this.progress = { id, fraction: 0, label: "" };
    this.emit("progress");
  }

  /** Apply a kernel reply (buffers already restored). Returns whether examples changed. */
  apply(message: any): boolean {
    switch (message.type) {
      case "fetch_started":
        if (this.currentFetch === message.id && this.examples.length === 0) return false;
        this.currentFetch = message.id;
        this.examples = [];
        this.emit("examples");
        return true;
      case "example": {
        if (message.id !== this.currentFetch) return false; // superseded request
        const example: Example = message.example;
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
    }
    return false;
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

const stores = new Map<string, Store>();

/** The store of the widget instance behind ``model`` (created from its synced state). */
export function storeFor(model: WidgetModel): Store {
  const key = String(model.get("instance") ?? "");
  let store = key ? stores.get(key) : undefined;
  if (!store) {
    store = new Store(model.get("examples") ?? [], model.get("status") ?? {});
    if (key) stores.set(key, store);
  }
  return store;
}

/** Handle one custom message for ``store`` and keep the model's ``examples`` in step. */
export function receive(model: WidgetModel, store: Store, content: any, buffers: (DataView | ArrayBuffer)[] = []): void {
  if (!content || typeof content !== "object") return;
  const message = restoreBuffers(content, content.buffer_paths ?? [], buffers);
  store.apply(message);
  // the kernel updated its copy without re-sending it; update ours so new views and saved
  // widget state see the same examples (local only: never save_changes)
  if (model.get("examples") !== store.examples) model.set("examples", store.examples);
}
