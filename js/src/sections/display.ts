// "Display": sign, colour map, normalisation, absolute scale, overlay, opacity. Browser only:
// changing these re-colours, nothing is sent to the kernel.

import { COLORMAPS } from "../colormap";
import { labelled, select } from "../controls";
import type { DisplayOptions } from "../types";
import { element } from "../views/view";
import { sectionBox, type Section, type SectionContext } from "./section";

export function displaySection({ shared, view }: SectionContext): Section {
  const { choices } = shared;
  const { el, body } = sectionBox("Display", "iw-section-display");
  const options = (values: string[]) => values.map((v) => ({ value: v, label: v }));
  const sign = select(options(["all", "positive", "negative", "absolute"]), choices.display.sign, "iw-sign");
  const colormap = select(options(COLORMAPS), choices.display.colormap, "iw-colormap");
  const normalize = select(
    [{ value: "example", label: "per example" }, { value: "shared", label: "shared" }, { value: "absolute", label: "absolute" }],
    choices.display.normalize, "iw-normalize");
  const scale = element("input", "iw-input iw-scale");
  scale.type = "number";
  scale.step = "any";
  scale.min = "0";
  scale.dataset.testid = "iw-scale";
  scale.title = "|attribution| shown at full colour with absolute normalisation";
  const overlay = select(
    [{ value: "heatmap", label: "heat map" }, { value: "blend", label: "blended" }, { value: "masked", label: "masked" }, { value: "alpha", label: "alpha-scaled" }, { value: "original", label: "original" }],
    choices.display.overlay, "iw-overlay");
  const opacity = element("input", "iw-range");
  opacity.type = "range";
  opacity.min = "0";
  opacity.max = "1";
  opacity.step = "0.05";
  opacity.dataset.testid = "iw-opacity";
  const update = () => {
    const display: DisplayOptions = {
      sign: sign.value as DisplayOptions["sign"],
      colormap: colormap.value,
      normalize: normalize.value as DisplayOptions["normalize"],
      absoluteScale: Math.max(0, Number.parseFloat(scale.value) || 0),
      overlay: overlay.value as DisplayOptions["overlay"],
      opacity: Number.parseFloat(opacity.value),
    };
    scale.disabled = display.normalize !== "absolute";
    choices.update("display", () => (choices.display = display), view);
  };
  for (const control of [sign, colormap, normalize, overlay]) control.addEventListener("change", update);
  scale.addEventListener("input", update);
  opacity.addEventListener("input", update);
  body.append(labelled("sign", sign), labelled("colour map", colormap), labelled("normalise", normalize), labelled("scale", scale), labelled("overlay", overlay), labelled("opacity", opacity));
  const sync = () => {
    const display = choices.display;
    sign.value = display.sign;
    colormap.value = display.colormap;
    normalize.value = display.normalize;
    scale.value = String(display.absoluteScale);
    scale.disabled = display.normalize !== "absolute";
    overlay.value = display.overlay;
    opacity.value = String(display.opacity);
  };
  sync();
  return { el, body, sync };
}
