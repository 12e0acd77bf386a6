// A stored map's note on its card: the arguments it was made with (named when they differ from
// the selected ones) and a button that recomputes this example live with the model.

import { button } from "../controls";
import type { ModelResult } from "../types";
import { element } from "./view";

export function storedNote(result: ModelResult, onLive: () => void): HTMLElement | null {
  if (!result.stored) return null;
  const box = element("div", "iw-stored");
  box.dataset.testid = "iw-stored";
  if (result.stored.differs.length) box.classList.add("iw-stored-differs");
  const made = Object.entries(result.stored.arguments).map(([k, v]) => `${k}=${String(v)}`).join(", ");
  box.title = `stored with ${made || "the method's defaults"}`;
  const live = button("recompute live", "iw-live", "iw-chip iw-live");
  live.title = "compute this example's map now with the model and the selected arguments";
  live.addEventListener("click", onLive);
  box.append(element("span", "", result.stored.differs.length ? `differs: ${result.stored.differs.join(", ")}` : "stored"), live);
  return box;
}
