// Layer attributions that do not map onto an input: the strongest neurons as signed bars.

import { tabularView } from "./tabular";
import type { AttributionView } from "./view";

export function neuronView(scores: Float32Array, layerName: string | null, limit = 12): AttributionView {
  const names = Array.from({ length: scores.length }, (_, i) => `${layerName ?? "layer"}[${i}]`);
  const view = tabularView(names, null, scores, limit);
  view.el.classList.add("iw-neurons");
  return view;
}
