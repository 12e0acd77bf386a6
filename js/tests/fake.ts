// A fake anywidget model and builders of wire tensors, examples and specs for the tests.

import widget from "../src/index";
import type { Example, Spec, WidgetModel, WireTensor } from "../src/types";

export class FakeModel implements WidgetModel {
  state: Record<string, any>;
  sent: any[] = [];
  handlers = new Map<string, ((...args: any[]) => void)[]>();
  static?: boolean;
  constructor(state: Record<string, any>) {
    this.state = state;
  }
  get(key: string) {
    return this.state[key];
  }
  set(key: string, value: unknown) {
    this.state[key] = value;
    (this.handlers.get(`change:${key}`) ?? []).forEach((f) => f());
  }
  on(event: string, callback: (...args: any[]) => void) {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), callback]);
  }
  off(event?: string | null, callback?: ((...args: any[]) => void) | null) {
    if (!event) this.handlers.clear();
    else this.handlers.set(event, (this.handlers.get(event) ?? []).filter((f) => callback && f !== callback));
  }
  save_changes() {
    throw new Error("the front end must never save state back (it would echo bytes to the kernel)");
  }
  send(content: unknown) {
    this.sent.push(content);
  }
  /** Deliver a kernel reply the way anywidget does (bytes as separate DataViews). */
  reply(content: any, buffers: DataView[] = []) {
    (this.handlers.get("msg:custom") ?? []).forEach((f) => f(content, buffers));
  }
}

export function float32(values: number[], shape: number[]): WireTensor {
  return { dtype: "float32", shape, data: new DataView(new Float32Array(values).buffer) };
}

export function uint8(values: number[], shape: number[]): WireTensor {
  return { dtype: "uint8", shape, data: new DataView(new Uint8Array(values).buffer) };
}

export function spec(overrides: Partial<Spec> = {}): Spec {
  return {
    classes: ["cat", "dog", "<b>bird</b>"],
    models: ["Net"],
    features: [{ name: "Photo", type: "image", baselines: ["zeros", "blur"] }],
    methods: [
      {
        name: "Integrated Gradients", family: "gradient", output: "input", target: true, baselines: "single", help: "", has_delta: true,
        arguments: [
          { name: "n_steps", kind: "int", default: 25, label: "n steps", help: "", optional: false, min: 2 },
          { name: "method", kind: "enum", default: "gausslegendre", label: "rule", help: "", optional: false, choices: ["gausslegendre", "riemann_left"] },
        ],
      },
      { name: "Saliency", family: "gradient", output: "input", target: true, baselines: "none", help: "", has_delta: false, arguments: [{ name: "abs", kind: "bool", default: true, label: "abs", help: "", optional: false }] },
      { name: "Layer Grad Cam", family: "layer", output: "layer", target: true, baselines: "none", help: "", has_delta: false, arguments: [{ name: "layer", kind: "layer", default: null, label: "layer", help: "", optional: false }] },
    ],
    layers: [{ choices: ["conv1", "conv2"], default: "conv2" }],
    use_label_for_attr: true,
    predictions: ["all", "correct", "incorrect"],
    max_examples: 64,
    ...overrides,
  };
}

/** A 2x2 RGB image example whose attribution is [-1, 0, 0.5, 1]. */
export function imageExample(id = 0, map = [-1, 0, 0.5, 1]): Example {
  return {
    id,
    position: id,
    label: 1,
    inputs: [{ type: "image", original: uint8([255, 0, 0, 0, 255, 0, 0, 0, 255, 128, 128, 128], [2, 2, 3]) }],
    predictions: [[{ index: 0, score: 0.7 }, { index: 1, score: 0.2 }, { index: 2, score: 0.1 }]],
    models: [{ model: 0, method: "Integrated Gradients", target: 0, attribution: [float32(map, [2, 2])], layer: null, contributions: [0.5], delta: 0.01, error: null }],
  };
}

export function mount(model: FakeModel): HTMLElement {
  const el = document.createElement("div");
  el.style.width = "900px";
  document.body.append(el);
  return el;
}

export function canvasPixels(canvas: HTMLCanvasElement): number[] {
  const context = canvas.getContext("2d")!;
  return Array.from(context.getImageData(0, 0, canvas.width, canvas.height).data);
}

/** One widget as anywidget drives it: ``initialize`` once, ``render`` per view. */
export function openWidget(model: FakeModel): { render(el: HTMLElement): () => void; close: () => void } {
  const definition = widget();
  const close = definition.initialize({ model });
  return { render: (el) => definition.render({ model, el }), close };
}
