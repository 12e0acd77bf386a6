// The user's choices for one widget, shared by every view of it: method and its arguments,
// the compared method, baselines and attributed inputs, shown inputs, example filters, and the
// display options. A view changes them through ``update``; every other view re-syncs its
// controls from here, so two views of one widget never disagree.

import type { DisplayOptions, Filters, MethodSchema, SavedSettings, Settings, Spec, SpeedSettings } from "./types";

export const DEFAULT_DISPLAY: DisplayOptions = {
  sign: "all",
  colormap: "blue-orange", // colour-blind safe (colormap.ts); the others stay selectable
  normalize: "example",
  absoluteScale: 1,
  overlay: "blend",
  opacity: 0.65,
};

/** What changed: "attribution" needs a recompute, "shown" a redraw, "display" a re-colour. */
export type ChoiceChange = "attribution" | "shown" | "filters" | "display";
type Listener = (what: ChoiceChange, source: unknown) => void;

export class Choices {
  method: string;
  /** arguments last set per method (switching back restores them) */
  argumentsByMethod: Record<string, Record<string, unknown>> = {};
  compare: string;
  baselines: string[];
  active: boolean[];
  shown: boolean[];
  filters: Filters;
  display: DisplayOptions = { ...DEFAULT_DISPLAY };
  speed: SpeedSettings;
  private listeners = new Set<Listener>();

  constructor(private spec: Spec, saved: SavedSettings = {}) {
    this.method = this.methodNamed(saved.method)?.name ?? spec.methods[0]?.name ?? "";
    this.argumentsByMethod[this.method] = { ...(saved.arguments ?? {}) };
    this.compare = this.methodNamed(saved.compare?.method ?? undefined)?.name ?? "";
    this.baselines = spec.features.map((f, i) => saved.baselines?.[i] ?? f.baselines[0]);
    this.active = spec.features.map((_, i) => saved.active?.[i] ?? true);
    this.speed = { autocast: saved.speed?.autocast ?? false, channels_last: saved.speed?.channels_last ?? false };
    this.shown = spec.features.map((f) => f.type !== "empty");
    this.filters = {
      prediction: saved.filters?.prediction ?? "all",
      classes: saved.filters?.classes ?? [],
      num_examples: saved.filters?.num_examples ?? 4,
      max_batches: saved.filters?.max_batches ?? 64,
      // a store's page query (sections/store.ts), so a reopened widget shows the same page
      ...(saved.filters?.store ? { store: { ...saved.filters.store } } : {}),
    };
  }

  methodNamed(name: string | undefined): MethodSchema | undefined {
    return this.spec.methods.find((m) => m.name === name);
  }

  get methodSchema(): MethodSchema {
    return this.methodNamed(this.method) ?? this.spec.methods[0];
  }

  get arguments(): Record<string, unknown> {
    return (this.argumentsByMethod[this.method] ??= {});
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Apply ``change`` (made by ``source``, a view) and tell every listener. */
  update(what: ChoiceChange, change: () => void, source: unknown): void {
    change();
    this.listeners.forEach((listener) => listener(what, source));
  }

  /** The settings sent with fetch, recompute and attribute requests. */
  settings(): Settings {
    return {
      method: this.method,
      arguments: { ...this.arguments },
      baselines: [...this.baselines],
      active: [...this.active],
      compare: this.compare ? { method: this.compare, arguments: { ...(this.argumentsByMethod[this.compare] ?? {}) } } : null,
      speed: { ...this.speed },
    };
  }
}
