// Card states of a fetch at real-model speed: predictions first, anytime maps refining round
// by round, a cancel mid-refinement, and maps served from the cache.
import { afterEach, describe, expect, it } from "vitest";
import { deltaLabel } from "../src/example";
import type { ModelResult } from "../src/types";
import { FakeModel, imageExample, mount, openWidget, spec } from "./fake";

let cleanups: (() => void)[] = [];
afterEach(() => {
  cleanups.forEach((c) => c());
  cleanups = [];
  document.body.replaceChildren();
});

function setup() {
  const model = new FakeModel({ spec: spec(), examples: [], settings: {}, status: {} });
  const el = mount(model);
  const widget = openWidget(model);
  cleanups.push(widget.render(el), widget.close);
  return { model, el };
}

/** Press Fetch and let the kernel start it: the view, its model and the request id. */
function fetched() {
  const { model, el } = setup();
  el.querySelector<HTMLButtonElement>('[data-testid="iw-fetch"]')!.click();
  const id = model.sent.at(-1).id;
  model.reply({ type: "fetch_started", id, buffer_paths: [] });
  return { model, el, id };
}

const text = (el: HTMLElement, id: string) => el.querySelector<HTMLElement>(`[data-testid="${id}"]`)?.textContent ?? null;

function anytime(overrides: Partial<ModelResult>): ModelResult {
  const base = imageExample(0).models[0];
  return { ...base, delta: 0.02, relative_delta: 0.008, steps: 24, converged: false, ...overrides };
}

describe("a fetch at real-model speed", () => {
  it("shows the card with its predictions before any map, then the map refining round by round", () => {
    const { model, el, id } = fetched();
    model.reply({ type: "example", id, example: { ...imageExample(0), models: [] }, buffer_paths: [] });
    expect(el.querySelectorAll('[data-testid="iw-prediction"]').length).toBe(3);
    expect(text(el, "iw-pending")).toContain("map follows");
    expect(el.querySelector('[data-testid="iw-delta"]')).toBeNull();

    model.reply({ type: "result", id, example: 0, model: 0, result: anytime({ partial: true, steps: 5, relative_delta: 0.12 }), buffer_paths: [] });
    expect(el.querySelector('[data-testid="iw-pending"]')).toBeNull();
    expect(text(el, "iw-delta")).toBe("δ 12% · 5 steps");
    expect(text(el, "iw-refinement")).toBe("refining…");

    model.reply({ type: "result", id, example: 0, model: 0, result: anytime({ converged: true }), buffer_paths: [] });
    expect(text(el, "iw-delta")).toBe("δ 0.8% · 24 steps");
    expect(text(el, "iw-refinement")).toBe("converged");
  });

  it("keeps the last map after a cancel mid-refinement, marked not converged", () => {
    const { model, el, id } = fetched();
    model.reply({ type: "example", id, example: { ...imageExample(0), models: [] }, buffer_paths: [] });
    model.reply({ type: "result", id, example: 0, model: 0, result: anytime({ partial: true, steps: 9 }), buffer_paths: [] });
    model.reply({ type: "result", id, example: 0, model: 0, result: anytime({ stopped: true, steps: 9 }), buffer_paths: [] });
    model.reply({ type: "done", id, state: "cancelled", message: "Cancelled.", buffer_paths: [] });
    expect(el.querySelector('[data-testid="iw-attribution"]')).not.toBeNull();
    expect(text(el, "iw-delta")).toBe("δ 0.8% · 9 steps");
    expect(text(el, "iw-refinement")).toBe("stopped, not converged");
    expect(el.querySelector(".iw-unconverged")).not.toBeNull();
  });

  it("says when a map comes from the cache, and that the top targets were computed together", () => {
    const { model, el, id } = fetched();
    model.reply({ type: "example", id, example: imageExample(0), buffer_paths: [] });
    expect(el.querySelector('[data-testid="iw-cached"]')).toBeNull();
    const shared = { ...imageExample(0).models[0], target: 1, shared_targets: 3 };
    model.reply({ type: "result", id: "t1", example: 0, model: 0, result: shared, buffer_paths: [] });
    expect(el.querySelector(".iw-shared")?.textContent).toBe("top 3 computed together");
    model.reply({ type: "result", id: "t2", example: 0, model: 0, result: { ...shared, target: 2, cached: true }, buffer_paths: [] });
    expect(text(el, "iw-cached")).toBe("from cache");
    expect(el.querySelector(".iw-shared")).toBeNull();
  });
});

describe("perturbation maps", () => {
  it("say they are filling in, and after a cancel that the map is partial", () => {
    const { model, el, id } = fetched();
    const ablation = { ...imageExample(0).models[0], method: "Feature Ablation", delta: null };
    model.reply({ type: "example", id, example: { ...imageExample(0), models: [] }, buffer_paths: [] });
    model.reply({ type: "result", id, example: 0, model: 0, result: { ...ablation, partial: true }, buffer_paths: [] });
    expect(text(el, "iw-refinement")).toBe("filling in…");
    model.reply({ type: "result", id, example: 0, model: 0, result: { ...ablation, stopped: true }, buffer_paths: [] });
    expect(text(el, "iw-refinement")).toBe("stopped, partial map");
    model.reply({ type: "result", id, example: 0, model: 0, result: ablation, buffer_paths: [] });
    expect(el.querySelector('[data-testid="iw-refinement"]')).toBeNull();
  });
});

describe("speed options", () => {
  it("are opt-in, recompute when switched on, and the card shows the error they cause", () => {
    const { model, el } = setup();
    model.reply({ type: "fetch_started", id: "f", buffer_paths: [] });
    const example = imageExample(0);
    model.reply({ type: "example", id: "f", example, buffer_paths: [] });
    const autocast = el.querySelector<HTMLInputElement>('[data-testid="iw-autocast"]')!;
    expect(autocast.checked).toBe(false);
    autocast.checked = true;
    autocast.dispatchEvent(new Event("change"));
    expect(model.sent.at(-1)).toMatchObject({ type: "recompute", settings: { speed: { autocast: true, channels_last: false } } });
    const fast = { ...example.models[0], speed_error: { relative: 0.0123, seconds: 0.5, reference_seconds: 1.5 } };
    model.reply({ type: "result", id: model.sent.at(-1).id, example: 0, model: 0, result: fast, buffer_paths: [] });
    const shown = el.querySelector<HTMLElement>('[data-testid="iw-speed-error"]')!;
    expect(shown.textContent).toBe("fast settings: error 1.2%");
    expect(shown.title).toContain("0.50 s vs 1.50 s");
  });
});

describe("the delta label", () => {
  it("is the plain delta for fixed-step methods and the relative delta with steps for anytime IG", () => {
    const fixed = imageExample(0).models[0];
    expect(deltaLabel(fixed)).toEqual({ text: "δ 0.010", state: "" });
    expect(deltaLabel({ ...fixed, delta: null })).toBeNull();
    expect(deltaLabel(anytime({}))).toEqual({ text: "δ 0.8% · 24 steps", state: "not converged (budget)" });
    expect(deltaLabel(anytime({ relative_delta: null }))?.text).toBe("δ 0.020 · 24 steps");
  });
});
