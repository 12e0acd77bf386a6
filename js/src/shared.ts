// What all views of one widget share, created once per model by anywidget's ``initialize``:
// the Store of examples and requests, the user's Choices, and the single ``msg:custom``
// handler that applies each kernel reply once. Views only subscribe and ask for requests.

import { Choices } from "./choices";
import { Generation } from "./generation";
import { parseKernelMessage } from "./messages";
import { QualityStore } from "./quality";
import { Store } from "./store";
import type { Buffers, KernelMessage, LLMMessage, RequestId, Spec, WidgetModel } from "./types";

const LLM_REPLIES = new Set(["generated", "llm_started", "llm_rows", "llm_result"]);
function isLLMMessage(message: KernelMessage): message is LLMMessage {
  return LLM_REPLIES.has(message.type);
}

/** A reply to an ``ask`` (the dataset panel's summaries). */
export type Reply = Extract<KernelMessage, { type: "reply" }>;

let requestCounter = 0;
export function requestId(): string {
  requestCounter += 1;
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}-${requestCounter}`;
}

/** Which view (if any) is open in a side area; inline views defer to it. */
export type Placement = "inline" | "side";

export class Shared {
  readonly store: Store;
  readonly choices: Choices;
  /** the quality panels (quality.ts): requests and their streamed parts */
  readonly quality = new QualityStore();
  /** the generation view's draft and last attribution (spec.kind "llm") */
  readonly generation: Generation;
  spec: Spec;
  /** attribute requests in flight, by "example:model", so every view marks the row busy */
  readonly pending = new Map<string, RequestId>();
  private exports = new Map<RequestId, (html: string) => void>();
  private replies = new Map<RequestId, (reply: Reply) => void>();
  private placements = new Map<object, Placement>();
  private placementListeners = new Set<() => void>();
  private cleanups: (() => void)[] = [];

  constructor(private model: WidgetModel) {
    this.spec = model.get("spec") as Spec;
    this.store = new Store(model.get("examples") ?? [], model.get("status") ?? {});
    this.choices = new Choices(this.spec, model.get("settings") ?? {});
    this.generation = new Generation(this.spec, model.get("generation") ?? {});
    const onMessage = (content: unknown, buffers: Buffers) => this.receive(content, buffers);
    const onSpec = () => {
      this.spec = model.get("spec") as Spec;
    };
    model.on("msg:custom", onMessage);
    model.on("change:spec", onSpec);
    // a changed attribution choice recomputes what is shown: once, whichever view changed it
    const unsubscribe = this.choices.subscribe((what) => {
      if (this.spec.kind === "llm") return; // the generation view attributes on request only
      if (what === "attribution" && this.store.examples.length) this.request("recompute");
    });
    this.cleanups.push(unsubscribe, () => {
      model.off("msg:custom", onMessage);
      model.off("change:spec", onSpec);
    });
  }

  get isStatic(): boolean {
    return Boolean(this.model.static);
  }

  get sidePanelRequested(): boolean {
    return Boolean(this.model.get("in_side_panel"));
  }

  /** Apply one kernel reply; keep the model's ``examples`` in step (local only, never saved). */
  receive(content: unknown, buffers: Buffers = []): void {
    const message = parseKernelMessage(content, buffers);
    if (!message) return;
    if (message.type === "export") {
      // only the view that asked downloads the page
      this.exports.get(message.id)?.(message.html);
      this.exports.delete(message.id);
      return;
    }
    if (message.type === "reply") {
      this.replies.get(message.id)?.(message);
      this.replies.delete(message.id);
      return;
    }
    this.quality.apply(message);
    if (message.type === "quality") return;
    if (isLLMMessage(message)) {
      this.generation.apply(message);
      if (message.type !== "generated") this.model.set("generation", this.generation.record);
      return;
    }
    this.store.apply(message);
    for (const [key, id] of this.pending) if (!this.store.running.has(id)) this.pending.delete(key);
    // the kernel updated its copy without re-sending it; update ours so new views and saved
    // widget state see the same examples
    if (this.model.get("examples") !== this.store.examples) this.model.set("examples", this.store.examples);
  }

  request(kind: "fetch" | "recompute"): void {
    if (this.isStatic) return;
    const id = requestId();
    this.store.started(id, kind);
    this.model.send({ type: kind, id, settings: this.choices.settings(), filters: { ...this.choices.filters } });
  }

  attribute(example: number, model: number, target: number): void {
    if (this.isStatic) return;
    const id = requestId();
    this.pending.set(`${example}:${model}`, id);
    this.store.started(id, "attribute");
    this.model.send({ type: "attribute", id, example, model, target, settings: this.choices.settings() });
  }

  /** Recompute one example live (a store's example: its stored map is no longer shown). */
  live(example: number, model: number, target: number | null): void {
    if (this.isStatic) return;
    const id = requestId();
    this.pending.set(`${example}:${model}`, id);
    this.store.started(id, "attribute");
    this.model.send({ type: "store_live", id, example, model, target, settings: this.choices.settings() });
  }

  /** Ask the kernel for data that is not an example (a store's summaries); ``onReply`` once. */
  ask(message: { type: "store_summary"; statistic?: string }, onReply: (reply: Reply) => void): void {
    if (this.isStatic) return;
    const id = requestId();
    this.replies.set(id, onReply);
    this.model.send({ ...message, id });
  }

  /** Generation view: continue the draft's prompt greedily. */
  generate(): void {
    if (this.isStatic) return;
    const id = requestId();
    const { prompt, max_new_tokens } = this.generation.draft;
    this.store.started(id, "generate");
    this.model.send({ type: "generate", id, prompt, max_new_tokens });
  }

  /** Generation view: attribute the draft's target with the chosen method. */
  attributeGeneration(): void {
    if (this.isStatic) return;
    const id = requestId();
    this.generation.current = id;
    this.store.started(id, "attribute");
    this.model.send({ type: "attribute", id, settings: this.generation.settings(this.choices.method, this.choices.arguments) });
  }

  /** Measure the shown map of (example, model) — the compared method's with ``compare``. */
  requestQuality(example: number, model: number, compare = false): void {
    const shown = this.store.examples.find((e) => e.id === example);
    const result = compare ? shown?.compare?.[model] : shown?.models[model];
    if (this.isStatic || !result) return;
    const id = requestId();
    this.store.started(id, "quality");
    this.quality.started(id, example, model, compare, result);
    this.model.send({ type: "quality", id, example, model, target: result.target, compare, settings: this.choices.settings() });
  }

  /** Stop ``request`` (every running request when none is given). */
  cancel(request?: RequestId): void {
    this.model.send(request === undefined ? { type: "cancel", id: requestId() } : { type: "cancel", id: requestId(), request });
  }

  exportPage(onPage: (html: string) => void): void {
    const id = requestId();
    this.exports.set(id, onPage);
    this.model.send({ type: "export", id });
  }

  /** Register a view's placement; returns its removal. Listeners hear every change. */
  place(view: object, placement: Placement): () => void {
    this.placements.set(view, placement);
    this.placementListeners.forEach((listener) => listener());
    return () => {
      this.placements.delete(view);
      this.placementListeners.forEach((listener) => listener());
    };
  }

  get hasSideView(): boolean {
    return Array.from(this.placements.values()).includes("side");
  }

  onPlacement(listener: () => void): () => void {
    this.placementListeners.add(listener);
    return () => this.placementListeners.delete(listener);
  }

  destroy(): void {
    this.cleanups.forEach((cleanup) => cleanup());
    this.cleanups = [];
  }
}
