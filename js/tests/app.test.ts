import { afterEach, describe, expect, it, vi } from "vitest";
import * as entry from "../src/index";
import { SIDE_PANEL_WAIT } from "../src/placement";
import { openWidget } from "./fake";
import { canvasPixels, FakeModel, float32, imageExample, mount, spec } from "./fake";

let cleanups: (() => void)[] = [];
afterEach(() => {
  cleanups.forEach((c) => c());
  cleanups = [];
  document.body.replaceChildren();
});

function setup(state: Record<string, any> = {}) {
  const model = new FakeModel({ spec: spec(), examples: [], settings: {}, status: {}, ...state });
  const el = mount(model);
  const widget = openWidget(model);
  cleanups.push(widget.render(el), widget.close);
  return { model, el };
}

const q = (el: HTMLElement, id: string) => el.querySelector<HTMLElement>(`[data-testid="${id}"]`)!;

describe("the app with a fake model", () => {
  it("lists the methods by name and builds the argument form from the schema", () => {
    const { el } = setup();
    const method = q(el, "iw-method") as HTMLSelectElement;
    expect(Array.from(method.options).map((o) => o.textContent)).toEqual(["Integrated Gradients", "Saliency", "Layer Grad Cam"]);
    expect((q(el, "iw-arg-n_steps") as HTMLInputElement).value).toBe("25");
    expect((q(el, "iw-arg-method") as HTMLSelectElement).value).toBe("gausslegendre");
    method.value = "Layer Grad Cam";
    method.dispatchEvent(new Event("change"));
    expect((q(el, "iw-arg-layer") as HTMLSelectElement).value).toBe("conv2");
  });

  it("sends fetch with the current settings and filters, shows progress, then streams examples", () => {
    const { model, el } = setup();
    (q(el, "iw-arg-n_steps") as HTMLInputElement).value = "7";
    q(el, "iw-arg-n_steps").dispatchEvent(new Event("change"));
    q(el, "iw-fetch").click();
    const request = model.sent.at(-1);
    expect(request).toMatchObject({ type: "fetch", settings: { method: "Integrated Gradients", arguments: { n_steps: 7 }, baselines: ["zeros"], active: [true] }, filters: { prediction: "all", num_examples: 4 } });
    expect(q(el, "iw-progress").closest(".iw-hidden")).toBeNull();
    model.reply({ type: "fetch_started", id: request.id, buffer_paths: [] });
    model.reply({ type: "progress", id: request.id, fraction: 0.5, label: "half", buffer_paths: [] });
    expect((q(el, "iw-progress") as HTMLProgressElement).value).toBe(0.5);
    // the bytes arrive as separate buffers, like anywidget delivers them
    const example = imageExample(0);
    const original = example.inputs[0] as any;
    const buffers = [original.original.data, example.models[0].attribution[0]!.data as DataView];
    original.original.data = null;
    example.models[0].attribution[0]!.data = null;
    model.reply({ type: "example", id: request.id, example, buffer_paths: [["example", "inputs", 0, "original", "data"], ["example", "models", 0, "attribution", 0, "data"]] }, buffers);
    expect(el.querySelectorAll('[data-testid="iw-example"]').length).toBe(1);
    expect(model.get("examples").length).toBe(1); // kept in step locally, never saved back
    model.reply({ type: "done", id: request.id, state: "complete", message: "End of the dataset", buffer_paths: [] });
    expect(q(el, "iw-progress").closest(".iw-hidden")).not.toBeNull();
    expect(q(el, "iw-status").textContent).toContain("End of the dataset");
  });

  it("re-colours in the browser without sending anything to the kernel", () => {
    const { model, el } = setup({ examples: [imageExample(0)] });
    const canvas = q(el, "iw-attribution") as HTMLCanvasElement;
    const before = canvasPixels(canvas);
    for (const [id, value] of [["iw-sign", "positive"], ["iw-colormap", "viridis"], ["iw-overlay", "heatmap"], ["iw-normalize", "shared"]]) {
      const control = q(el, id) as HTMLSelectElement;
      control.value = value;
      control.dispatchEvent(new Event("change"));
    }
    expect(canvasPixels(canvas)).not.toEqual(before);
    expect(model.sent).toEqual([]);
  });

  it("clicking a prediction or the label asks for that target for that example and model", () => {
    const { model, el } = setup({ examples: [imageExample(3)] });
    const predictions = el.querySelectorAll<HTMLButtonElement>('[data-testid="iw-prediction"]');
    expect(predictions[0].classList.contains("iw-active")).toBe(true);
    predictions[1].click();
    expect(model.sent.at(-1)).toMatchObject({ type: "attribute", example: 3, model: 0, target: 1 });
    q(el, "iw-label").click();
    expect(model.sent.at(-1)).toMatchObject({ type: "attribute", target: 1 });
    const picker = q(el, "iw-target") as HTMLSelectElement;
    picker.value = "2";
    picker.dispatchEvent(new Event("change"));
    expect(model.sent.at(-1)).toMatchObject({ type: "attribute", target: 2 });
    const request = model.sent.at(-1);
    const result = { ...imageExample(3).models[0], target: 2, attribution: [float32([1, 1, 1, 1], [2, 2])] };
    model.reply({ type: "result", id: request.id, example: 3, model: 0, result, buffer_paths: [] });
    const active = el.querySelector(".iw-meta")!.textContent;
    expect(active).toContain("target <b>bird</b>"); // class names are text, not markup
    expect(el.querySelector("b")).toBeNull();
  });

  it("changing the method recomputes the examples on screen", () => {
    const { model, el } = setup({ examples: [imageExample(0)] });
    const method = q(el, "iw-method") as HTMLSelectElement;
    method.value = "Saliency";
    method.dispatchEvent(new Event("change"));
    expect(model.sent.at(-1)).toMatchObject({ type: "recompute", settings: { method: "Saliency", arguments: {} } });
  });

  it("shows a model error next to its example and the rest keeps working", () => {
    const broken = imageExample(0);
    broken.models[0] = { ...broken.models[0], attribution: [null], error: "RuntimeError: boom" };
    const { el } = setup({ examples: [broken, imageExample(1)] });
    expect(q(el, "iw-error").textContent).toBe("RuntimeError: boom");
    expect(el.querySelectorAll('[data-testid="iw-attribution"]').length).toBe(1);
  });

  it("ignores examples of a superseded fetch and cancels through a message", () => {
    const { model, el } = setup();
    q(el, "iw-fetch").click();
    const first = model.sent.at(-1);
    q(el, "iw-fetch").click();
    const second = model.sent.at(-1);
    model.reply({ type: "example", id: first.id, example: imageExample(9), buffer_paths: [] });
    expect(el.querySelectorAll('[data-testid="iw-example"]').length).toBe(0);
    q(el, "iw-cancel").click();
    expect(model.sent.at(-1).type).toBe("cancel");
    expect(second.id).not.toBe(first.id);
  });

  it("two views of one widget stay in step and each cleans up", () => {
    const model = new FakeModel({ spec: spec(), examples: [], settings: {}, status: {} });
    const a = mount(model);
    const b = mount(model);
    const widget = openWidget(model);
    const cleanA = widget.render(a);
    const cleanB = widget.render(b);
    q(a, "iw-fetch").click();
    const request = model.sent.at(-1);
    model.reply({ type: "example", id: request.id, example: imageExample(0), buffer_paths: [] });
    expect(b.querySelectorAll('[data-testid="iw-example"]').length).toBe(1);
    cleanA();
    expect(a.querySelector('[data-testid="iw-root"]')).toBeNull();
    cleanB();
    widget.close();
    expect(model.handlers.get("msg:custom")).toEqual([]); // initialize's handler is gone too
  });

  it("shows text and tabular examples, and toggling a modality recomputes", () => {
    const multi = spec({ features: [{ name: "Question", type: "text", baselines: ["zeros"] }, { name: "Row", type: "general", baselines: ["zeros"] }] });
    const example = {
      ...imageExample(0),
      inputs: [{ type: "text", tokens: ["what", "colour"] }, { type: "general", values: float32([1, 2], [2]), names: ["a", "b"] }],
      models: [{ model: 0, method: "Saliency", target: 0, attribution: [float32([0.2, -0.1], [2]), float32([1, -3], [2])], layer: null, contributions: [0.1, -2], delta: null, error: null }],
    } as any;
    const { model, el } = setup({ spec: multi, examples: [example] });
    expect(el.querySelectorAll(".iw-token").length).toBe(2);
    expect(el.querySelectorAll(".iw-row").length).toBe(2);
    const shares = Array.from(el.querySelectorAll('[data-testid="iw-contribution"] .iw-row-score')).map((s) => s.textContent);
    expect(shares).toEqual(["5%", "-95%"]);
    const shown = q(el, "iw-shown-1") as HTMLInputElement;
    shown.checked = false;
    shown.dispatchEvent(new Event("change"));
    expect(Array.from(el.querySelectorAll('[data-testid="iw-contribution"] .iw-row-score')).map((s) => s.textContent)).toEqual(["100%"]);
    const active = q(el, "iw-active-0") as HTMLInputElement;
    active.checked = false;
    active.dispatchEvent(new Event("change"));
    expect(model.sent.at(-1)).toMatchObject({ type: "recompute", settings: { active: [false, true] } });
  });

  it("adapts its layout to the width it gets", async () => {
    const { el } = setup();
    el.style.width = "400px";
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(q(el, "iw-root").classList.contains("iw-narrow")).toBe(true);
    el.style.width = "1300px";
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(q(el, "iw-root").classList.contains("iw-wide")).toBe(true);
  });
});

describe("re-colour timing", () => {
  it("re-colours a 224x224 example (scales, sign, colours, canvas) in under 50 ms", () => {
    const size = 224;
    const example = imageExample(0, []);
    (example.inputs[0] as any).original = { dtype: "uint8", shape: [size, size, 3], data: new DataView(new Uint8Array(size * size * 3).map((_, i) => i % 253).buffer) };
    example.models[0].attribution = [float32(Array.from({ length: size * size }, (_, i) => Math.sin(i / 7)), [size, size])];
    const { el } = setup({ examples: [example] });
    const sign = q(el, "iw-sign") as HTMLSelectElement;
    const times: number[] = [];
    for (const value of ["positive", "negative", "absolute", "all", "positive"]) {
      sign.value = value;
      sign.dispatchEvent(new Event("change"));
      times.push(Number(q(el, "iw-root").dataset.recolorMs));
    }
    times.sort((a, b) => a - b);
    console.info(`app recolour 224x224: median ${times[2].toFixed(2)} ms`);
    expect(times[2]).toBeLessThan(50);
  });
});

describe("methods side by side", () => {
  it("asks for a second method and draws both, sharing one scale when normalisation is shared", () => {
    const { model, el } = setup({ examples: [imageExample(0)] });
    const compare = q(el, "iw-compare") as HTMLSelectElement;
    compare.value = "Saliency";
    compare.dispatchEvent(new Event("change"));
    const request = model.sent.at(-1);
    expect(request).toMatchObject({ type: "recompute", settings: { method: "Integrated Gradients", compare: { method: "Saliency", arguments: {} } } });
    const second = { ...imageExample(0).models[0], method: "Saliency", attribution: [float32([0, 0, 0, 4], [2, 2])], delta: null };
    model.reply({ type: "result", id: request.id, example: 0, model: 0, result: imageExample(0).models[0], compare: second, buffer_paths: [] });
    const canvases = el.querySelectorAll<HTMLCanvasElement>('[data-testid="iw-attribution"]');
    expect(canvases.length).toBe(2);
    expect(Array.from(el.querySelectorAll(".iw-method-name")).map((n) => n.textContent)).toEqual(["Integrated Gradients", "Saliency"]);
    const normalize = q(el, "iw-normalize") as HTMLSelectElement;
    normalize.value = "shared";
    normalize.dispatchEvent(new Event("change"));
    const legends = Array.from(el.querySelectorAll(".iw-legend-high")).map((n) => n.textContent);
    expect(legends).toEqual(["4.000", "4.000"]); // one scale across both methods
    compare.value = "";
    compare.dispatchEvent(new Event("change"));
    expect(model.sent.at(-1).settings.compare).toBeNull();
  });
});

describe("export", () => {
  it("asks the kernel for the page and downloads it only in the view that asked", () => {
    const { model, el } = setup();
    q(el, "iw-export").click();
    const request = model.sent.at(-1);
    expect(request.type).toBe("export");
    const clicks: string[] = [];
    const original = HTMLAnchorElement.prototype.click;
    HTMLAnchorElement.prototype.click = function (this: HTMLAnchorElement) {
      clicks.push(this.download);
    };
    try {
      model.reply({ type: "export", id: "someone-else", html: "<p>x</p>" });
      model.reply({ type: "export", id: request.id, html: "<p>x</p>" });
    } finally {
      HTMLAnchorElement.prototype.click = original;
    }
    expect(clicks).toEqual(["insight_widget.html"]);
  });
});

describe("streaming", () => {
  it("keeps the cards of unchanged examples when another example arrives or changes", () => {
    const { model, el } = setup();
    q(el, "iw-fetch").click();
    const request = model.sent.at(-1);
    model.reply({ type: "example", id: request.id, example: imageExample(0), buffer_paths: [] });
    const first = el.querySelector('[data-testid="iw-example"]');
    model.reply({ type: "example", id: request.id, example: imageExample(1), buffer_paths: [] });
    expect(el.querySelectorAll('[data-testid="iw-example"]')[0]).toBe(first);
    const result = { ...imageExample(1).models[0], target: 2 };
    model.reply({ type: "result", id: request.id, example: 1, model: 0, result, buffer_paths: [] });
    const cards = el.querySelectorAll('[data-testid="iw-example"]');
    expect(cards[0]).toBe(first);
    expect(cards[1].querySelector(".iw-meta")!.textContent).toContain("target <b>bird</b>");
  });
});

describe("views of one widget", () => {
  it("keep every control in step: method, arguments, inputs, filters and display", () => {
    const model = new FakeModel({ spec: spec(), examples: [imageExample(0)], settings: {}, status: {} });
    const widget = openWidget(model);
    const [a, b] = [mount(model), mount(model)];
    cleanups.push(widget.render(a), widget.render(b), widget.close);
    const method = q(a, "iw-method") as HTMLSelectElement;
    method.value = "Saliency";
    method.dispatchEvent(new Event("change"));
    expect((q(b, "iw-method") as HTMLSelectElement).value).toBe("Saliency");
    expect(q(b, "iw-arg-abs")).not.toBeNull(); // B's argument form is Saliency's
    expect(model.sent.filter((m) => m.type === "recompute").length).toBe(1); // asked once
    const abs = q(b, "iw-arg-abs") as HTMLInputElement;
    abs.checked = false;
    abs.dispatchEvent(new Event("change"));
    expect((q(a, "iw-arg-abs") as HTMLInputElement).checked).toBe(false);
    const count = q(a, "iw-num-examples") as HTMLInputElement;
    count.value = "9";
    count.dispatchEvent(new Event("change"));
    expect((q(b, "iw-num-examples") as HTMLInputElement).value).toBe("9");
    const baseline = q(b, "iw-baseline-0") as HTMLSelectElement;
    baseline.value = "blur";
    baseline.dispatchEvent(new Event("change"));
    expect((q(a, "iw-baseline-0") as HTMLSelectElement).value).toBe("blur");
    const sign = q(a, "iw-sign") as HTMLSelectElement;
    sign.value = "positive";
    sign.dispatchEvent(new Event("change"));
    expect((q(b, "iw-sign") as HTMLSelectElement).value).toBe("positive");
    // a fetch from B carries everything chosen in either view
    q(b, "iw-fetch").click();
    expect(model.sent.at(-1)).toMatchObject({ type: "fetch", settings: { method: "Saliency", arguments: { abs: false }, baselines: ["blur"] }, filters: { num_examples: 9 } });
  });

  it("registers one message handler per widget however many views it has", () => {
    const model = new FakeModel({ spec: spec(), examples: [], settings: {}, status: {} });
    const widget = openWidget(model);
    cleanups.push(widget.render(mount(model)), widget.render(mount(model)), widget.render(mount(model)), widget.close);
    expect(model.handlers.get("msg:custom")!.length).toBe(1);
  });
});

describe("side panel", () => {
  it("an inline view stands aside while the side panel shows the widget", () => {
    const model = new FakeModel({ spec: spec(), examples: [], settings: {}, status: {}, in_side_panel: true });
    const widget = openWidget(model);
    const panel = document.createElement("div");
    panel.id = "jp-right-stack";
    document.body.append(panel);
    const side = document.createElement("div");
    panel.append(side);
    const inline = mount(model);
    cleanups.push(widget.render(side), widget.render(inline), widget.close);
    expect(side.querySelector('[data-testid="iw-root"]')).not.toBeNull();
    expect(inline.querySelector('[data-testid="iw-root"]')).toBeNull();
    expect(q(inline, "iw-aside").textContent).toContain("side panel");
  });

  it("a host without a side area gets the widget inline, saying why", async () => {
    vi.useFakeTimers();
    try {
      const model = new FakeModel({ spec: spec(), examples: [], settings: {}, status: {}, in_side_panel: true });
      const widget = openWidget(model);
      const inline = mount(model);
      cleanups.push(widget.render(inline), widget.close);
      expect(inline.querySelector('[data-testid="iw-root"]')).toBeNull();
      vi.advanceTimersByTime(SIDE_PANEL_WAIT + 10);
      expect(inline.querySelector('[data-testid="iw-root"]')).not.toBeNull();
      expect(inline.querySelector(".iw-fallback")!.textContent).toContain("no side panel");
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("compact layout", () => {
  it("collapses the control sections in a 250 px panel and under a height cap", async () => {
    const { el } = setup();
    el.style.width = "250px";
    await new Promise((resolve) => setTimeout(resolve, 80));
    const root = q(el, "iw-root");
    expect(root.classList.contains("iw-compact")).toBe(true);
    expect(Array.from(el.querySelectorAll<HTMLDetailsElement>(".iw-section")).every((s) => !s.open)).toBe(true);
    // the examples start near the top
    expect(q(el, "iw-fetch").getBoundingClientRect().top - root.getBoundingClientRect().top).toBeLessThan(150);
    // marimo: a 610 px output cap outside the shadow root the widget is drawn in
    const capped = document.createElement("div");
    capped.style.maxHeight = "610px";
    capped.style.overflow = "auto";
    document.body.append(capped);
    const host = document.createElement("div");
    capped.append(host);
    const model = new FakeModel({ spec: spec(), examples: [], settings: {}, status: {} });
    const inner = document.createElement("div");
    inner.style.width = "900px";
    host.attachShadow({ mode: "open" }).append(inner);
    const widget = openWidget(model);
    cleanups.push(widget.render(inner), widget.close);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(q(inner, "iw-root").classList.contains("iw-compact")).toBe(true);
    expect(q(inner, "iw-root").classList.contains("iw-narrow")).toBe(false);
  });
});

describe("the anywidget module", () => {
  it("exports only its default (a named render draws anywidget's deprecation warning)", () => {
    expect(Object.keys(entry)).toEqual(["default"]);
    const definition = entry.default();
    expect(typeof definition.initialize).toBe("function");
    expect(typeof definition.render).toBe("function");
  });
});
