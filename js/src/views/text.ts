// Text attributions: each token coloured by its score, the value in a tooltip; tokens are
// inserted as text (escaped), never as HTML.

import { isLight, rgbOf } from "../colormap";
import type { DisplayOptions } from "../types";
import { element, formatNumber, type AttributionView } from "./view";

export function textView(tokens: string[], scores: Float32Array | null): AttributionView {
  const el = element("div", "iw-text");
  const spans = tokens.map((token) => {
    const span = element("span", "iw-token", token);
    el.append(span, document.createTextNode(" "));
    return span;
  });
  if (scores) el.dataset.testid = "iw-attribution";
  return {
    el,
    values: scores,
    redraw(options: DisplayOptions, scale: number) {
      spans.forEach((span, i) => {
        if (!scores || i >= scores.length) {
          span.style.background = "";
          span.title = "";
          return;
        }
        const [r, g, b] = rgbOf(scores[i], options, scale);
        span.style.background = `rgb(${r}, ${g}, ${b})`;
        // dark colours (e.g. viridis' low end) need light text
        span.style.color = isLight(r, g, b) ? "#111" : "#fff";
        span.title = `${tokens[i]}: ${formatNumber(scores[i])}`;
        span.dataset.value = String(scores[i]);
      });
    },
  };
}
