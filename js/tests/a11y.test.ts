// Reading real images: the zoom, keyboard navigation, screen-reader names and the
// colour-blind-safe default palette.
import { afterEach, describe, expect, it } from "vitest";
import { userEvent } from "vitest/browser";
import { DEFAULT_DISPLAY } from "../src/app";
import { COLORMAPS, rgbOf } from "../src/colormap";
import type { Example } from "../src/types";
import { ZOOM_MIN, zoomSize } from "../src/zoom";
import { canvasPixels, FakeModel, float32, imageExample, mount, openWidget, spec, uint8 } from "./fake";

let cleanups: (() => void)[] = [];
afterEach(() => {
  cleanups.forEach((c) => c());
  cleanups = [];
  document.body.replaceChildren();
});

function setup(examples: Example[], width = 900) {
  const model = new FakeModel({ spec: spec(), examples, settings: {}, status: {} });
  const el = mount(model);
  el.style.width = `${width}px`;
  const widget = openWidget(model);
  cleanups.push(widget.render(el), widget.close);
  return { model, el };
}

const q = <T extends HTMLElement = HTMLElement>(el: ParentNode, id: string) => el.querySelector<T>(`[data-testid="${id}"]`)!;

/** An RGB picture of ``height`` x ``width`` with a map that is hot in one pixel only. */
function pictureExample(id: number, height: number, width: number, hot: [number, number]): Example {
  const pixels = Array.from({ length: height * width * 3 }, (_, i) => (i * 37) % 256);
  const map = new Array(height * width).fill(0);
  map[hot[0] * width + hot[1]] = 1;
  map[0] = -0.5;
  return {
    ...imageExample(id),
    inputs: [{ type: "image", original: uint8(pixels, [height, width, 3]) }],
    models: [{ ...imageExample(id).models[0], attribution: [float32(map, [height, width])] }],
  };
}

// -- colour-blind safety --------------------------------------------------------------------------
// Machado, Oliveira & Fernandes (2009) simulation matrices at full severity, applied in linear RGB.
const DEFICIENCIES: Record<string, number[][]> = {
  protanopia: [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
  deuteranopia: [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.01182, 0.04294, 0.968881]],
  tritanopia: [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.3039]],
};
const toLinear = (c: number) => ((c /= 255) <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
const toSrgb = (c: number) => 255 * (c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055);
function simulate(rgb: number[], matrix: number[][]): number[] {
  const linear = rgb.map(toLinear);
  return matrix.map((row) => toSrgb(Math.min(1, Math.max(0, row[0] * linear[0] + row[1] * linear[1] + row[2] * linear[2]))));
}
const distance = (a: number[], b: number[]) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
/** How far apart +v and -v look under each deficiency, for |v| from 0.25 to 1: the smallest. */
function worstSeparation(colour: (v: number) => number[]): number {
  let worst = Infinity;
  for (const matrix of Object.values(DEFICIENCIES)) {
    for (const v of [0.25, 0.5, 0.75, 1]) worst = Math.min(worst, distance(simulate(colour(v), matrix), simulate(colour(-v), matrix)));
  }
  return worst;
}
const luminance = (rgb: number[]) => 0.2126 * toLinear(rgb[0]) + 0.7152 * toLinear(rgb[1]) + 0.0722 * toLinear(rgb[2]);

describe("colour-blind-safe default palette", () => {
  const defaultColour = (v: number) => rgbOf(v, { sign: "all", colormap: DEFAULT_DISPLAY.colormap }, 1);

  it("is a diverging blue-orange map whose two sides stay apart under protanopia, deuteranopia and tritanopia", () => {
    expect(DEFAULT_DISPLAY.colormap).toBe("blue-orange");
    expect(COLORMAPS).toEqual(expect.arrayContaining(["blue-orange", "red-blue", "purple-green", "viridis"]));
    // 40 (of 441) in simulated sRGB: clearly two hues at a glance
    expect(worstSeparation(defaultColour)).toBeGreaterThan(40);
    // the check has teeth: Captum's red-white-green static map fails it (deuteranopia)
    const redGreen = (v: number) => (v >= 0 ? [255 - 255 * v, 255 - 127 * v, 255 - 255 * v] : [255, 255 + 255 * v, 255 + 255 * v]);
    expect(worstSeparation(redGreen)).toBeLessThan(40);
  });

  it("gets darker from zero to both ends, so the magnitude reads without hue", () => {
    const levels = [0, 0.25, 0.5, 0.75, 1];
    for (const side of [1, -1]) {
      const light = levels.map((v) => luminance(defaultColour(side * v)));
      for (let k = 1; k < light.length; k++) expect(light[k]).toBeLessThan(light[k - 1]);
    }
  });
});

// -- zoom -----------------------------------------------------------------------------------------
describe("zoom", () => {
  it("sizes: small pictures by whole multiples, large ones at natural size, never wider than the panel", () => {
    expect(zoomSize(32, 32, 2000, 2)).toEqual({ width: 256, height: 256, row: true });
    expect(zoomSize(224, 224, 2000, 2)).toEqual({ width: 224 * Math.floor(ZOOM_MIN / 224), height: 224, row: true });
    expect(zoomSize(300, 200, 2000, 2)).toEqual({ width: 300, height: 200, row: true });
    const tight = zoomSize(300, 200, 400, 2); // stacked, shrunk to the width, aspect kept
    expect(tight.row).toBe(false);
    expect(tight).toEqual({ width: 300, height: 200, row: false });
    const shrunk = zoomSize(600, 300, 400, 2);
    expect(shrunk).toEqual({ width: 400, height: 200, row: false });
  });

  for (const [height, width] of [[224, 224], [30, 50]] as const) {
    it(`shows a ${height}x${width} picture and its map aligned, in every overlay mode, and follows re-colouring`, async () => {
      const hot: [number, number] = [Math.floor(height / 3), Math.floor((2 * width) / 3)];
      const { el } = setup([pictureExample(0, height, width, hot)]);
      const card = q<HTMLCanvasElement>(el, "iw-attribution");
      card.closest("figure")!.click();
      const dialog = q<HTMLDialogElement>(el, "iw-zoom");
      expect(dialog.open).toBe(true);
      const original = q<HTMLCanvasElement>(dialog, "iw-zoom-original");
      const map = q<HTMLCanvasElement>(dialog, "iw-zoom-map");
      // both at the picture's pixel grid and the same box on screen: aligned pixel for pixel
      for (const canvas of [original, map]) expect([canvas.width, canvas.height]).toEqual([width, height]);
      const a = original.getBoundingClientRect();
      const b = map.getBoundingClientRect();
      expect([b.width, b.height]).toEqual([a.width, a.height]);
      expect(a.width / a.height).toBeCloseTo(width / height, 5);
      expect(a.width).toBeLessThanOrEqual(el.clientWidth);
      expect(a.width).toBeGreaterThanOrEqual(Math.min(width * Math.floor(ZOOM_MIN / width) || width, el.clientWidth - 48) - 1);
      for (const overlay of ["heatmap", "blend", "masked", "alpha"]) {
        const control = q<HTMLSelectElement>(el, "iw-overlay");
        control.value = overlay;
        control.dispatchEvent(new Event("change"));
        // the zoom draws exactly what the card draws, on the same grid
        expect(canvasPixels(map)).toEqual(canvasPixels(card));
      }
      q<HTMLSelectElement>(el, "iw-overlay").value = "heatmap";
      q<HTMLSelectElement>(el, "iw-overlay").dispatchEvent(new Event("change"));
      const hotPixel = 4 * (hot[0] * width + hot[1]);
      const colour = (pixels: number[]) => pixels.slice(hotPixel, hotPixel + 3);
      const before = colour(canvasPixels(map));
      const colormap = q<HTMLSelectElement>(el, "iw-colormap");
      colormap.value = "viridis";
      colormap.dispatchEvent(new Event("change"));
      expect(colour(canvasPixels(map))).not.toEqual(before);
      expect(canvasPixels(original)).toEqual(canvasPixels(q<HTMLCanvasElement>(el, "iw-original")));
    });
  }

  it("opens with Enter, closes with Escape or a click, and gives the focus back", async () => {
    const { el } = setup([imageExample(0)]);
    const figure = q(el, "iw-attribution").closest<HTMLElement>("figure")!;
    figure.focus();
    await userEvent.keyboard("{Enter}");
    const dialog = q<HTMLDialogElement>(el, "iw-zoom");
    expect(dialog.open).toBe(true);
    expect(dialog.getAttribute("aria-labelledby")).toBeTruthy();
    expect(document.activeElement).toBe(q(dialog, "iw-zoom-close"));
    await userEvent.keyboard("{Escape}");
    expect(dialog.open).toBe(false);
    expect(document.activeElement).toBe(figure);
    figure.click();
    expect(dialog.open).toBe(true);
    q(dialog, "iw-zoom-map").click();
    expect(dialog.open).toBe(false);
  });
});

// -- keyboard and screen readers ---------------------------------------------------------------------
describe("keyboard and screen readers", () => {
  it("moves between cards with the arrow keys, Home and End, and Enter enlarges the card's image", async () => {
    const { el, model } = setup([imageExample(0), imageExample(1), imageExample(2)]);
    const list = el.querySelector<HTMLElement>(".iw-examples")!;
    expect(list.getAttribute("role")).toBe("list");
    const cards = Array.from(el.querySelectorAll<HTMLElement>('[data-testid="iw-example"]'));
    expect(cards.map((c) => [c.getAttribute("role"), c.tabIndex])).toEqual([["listitem", 0], ["listitem", 0], ["listitem", 0]]);
    cards[0].focus();
    await userEvent.keyboard("{ArrowDown}");
    expect(document.activeElement).toBe(cards[1]);
    await userEvent.keyboard("{ArrowRight}");
    expect(document.activeElement).toBe(cards[2]);
    await userEvent.keyboard("{ArrowDown}"); // stays on the last
    expect(document.activeElement).toBe(cards[2]);
    await userEvent.keyboard("{Home}");
    expect(document.activeElement).toBe(cards[0]);
    await userEvent.keyboard("{End}");
    expect(document.activeElement).toBe(cards[2]);
    await userEvent.keyboard("{ArrowUp}");
    expect(document.activeElement).toBe(cards[1]);
    // a form control keeps its own arrow keys (here: the next class, asked for at once), and
    // the focus stays on it while the cards redraw
    const picker = q<HTMLSelectElement>(cards[1], "iw-target");
    picker.focus();
    await userEvent.keyboard("{ArrowDown}");
    expect(document.activeElement).toBe(picker);
    expect(model.sent.at(-1)).toMatchObject({ type: "attribute", example: 1 });
    cards[1].focus();
    await userEvent.keyboard("{Enter}");
    expect(q<HTMLDialogElement>(el, "iw-zoom").open).toBe(true);
  });

  it("tabs from a card into its own controls and figures, then to the next card", async () => {
    const { el } = setup([imageExample(0), imageExample(1)]);
    const cards = Array.from(el.querySelectorAll<HTMLElement>('[data-testid="iw-example"]'));
    cards[0].focus();
    const visited: HTMLElement[] = [];
    for (let k = 0; k < 12 && document.activeElement !== cards[1]; k++) {
      await userEvent.keyboard("{Tab}");
      visited.push(document.activeElement as HTMLElement);
    }
    expect(document.activeElement).toBe(cards[1]);
    expect(visited.every((v) => v === cards[1] || cards[0].contains(v))).toBe(true);
    const zoomable = visited.filter((v) => v.classList.contains("iw-zoomable"));
    expect(zoomable.length).toBe(2); // the original and the map
    // the ring is drawn: keyboard focus (:focus-visible) gives an outline
    expect(getComputedStyle(cards[1]).outlineStyle).toBe("solid");
  });

  it("names every canvas by example, method and target, and announces status and errors", () => {
    const failing = { ...imageExample(1), models: [{ ...imageExample(1).models[0], attribution: [null], error: "ValueError: broken" }] };
    const { el, model } = setup([imageExample(0), failing]);
    const label = q(el, "iw-attribution").getAttribute("aria-label")!;
    expect(label).toContain("Example #0");
    expect(label).toContain("Integrated Gradients");
    expect(label).toContain("target cat");
    expect(q(el, "iw-original").getAttribute("aria-label")).toContain("original image");
    expect(q(el, "iw-attribution").getAttribute("role")).toBe("img");
    expect(q(el, "iw-example").getAttribute("aria-label")).toBe("Example #0, label dog");
    const status = q(el, "iw-status");
    expect([status.getAttribute("role"), status.getAttribute("aria-live")]).toEqual(["status", "polite"]);
    expect(el.querySelector('[data-testid="iw-error"]')!.getAttribute("role")).toBe("alert");
    model.reply({ type: "done", id: "x", state: "error", message: "boom", buffer_paths: [] });
    expect(status.querySelector('[role="alert"]')!.textContent).toBe("boom");
  });
});
