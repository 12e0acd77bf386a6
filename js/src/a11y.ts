// Accessibility: the names screen readers read for examples and their canvases, and keyboard
// navigation between example cards (arrow keys, Home/End; Enter enlarges the card's image).

import type { Example, ModelResult, Spec } from "./types";
import type { AttributionView } from "./views/view";

/** "Example #3 · Photo · Integrated Gradients · target cat · model Net" */
export function viewTitle(example: Example, spec: Spec, feature: string, result: ModelResult | undefined): string {
  const parts = [`Example #${example.position}`, feature];
  if (result) {
    parts.push(result.method);
    if (result.target != null) parts.push(`target ${spec.classes[result.target] ?? result.target}`);
    if (spec.models.length > 1) parts.push(`model ${spec.models[result.model] ?? result.model}`);
  }
  return parts.join(" · ");
}

/** Name ``view``'s canvases (and its zoom) after ``title``. */
export function labelView(view: AttributionView, title: string): void {
  if (view.zoom) view.zoom.title = title;
  for (const canvas of view.el.querySelectorAll("canvas")) {
    const what = canvas.dataset.testid === "iw-original" ? "original image" : `${(canvas.getAttribute("aria-label") ?? "attribution").toLowerCase()} map`;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `${title}: ${what}`);
  }
  for (const figure of view.el.querySelectorAll<HTMLElement>(".iw-zoomable")) {
    const canvas = figure.querySelector("canvas");
    if (canvas) figure.setAttribute("aria-label", `${canvas.getAttribute("aria-label")}. Enlarge`);
  }
}

/** A card as a list item that takes focus, named by its example. */
export function labelCard(card: HTMLElement, example: Example, spec: Spec): void {
  card.setAttribute("role", "listitem");
  card.tabIndex = 0;
  const label = example.label != null ? `, label ${spec.classes[example.label] ?? example.label}` : "";
  card.setAttribute("aria-label", `Example #${example.position}${label}`);
}

const FORM_CONTROLS = new Set(["INPUT", "SELECT", "TEXTAREA"]);
const MOVES: Record<string, (index: number, count: number) => number> = {
  ArrowDown: (i, n) => Math.min(n - 1, i + 1),
  ArrowRight: (i, n) => Math.min(n - 1, i + 1),
  ArrowUp: (i) => Math.max(0, i - 1),
  ArrowLeft: (i) => Math.max(0, i - 1),
  Home: () => 0,
  End: (_, n) => n - 1,
};

/**
 * Keyboard navigation over the cards of ``list`` (role "list"): from a card or anything in it
 * but a form control (which needs its own arrow keys), the arrow keys and Home/End move the
 * focus to a card; Enter on a card opens the zoom of its first image. Returns the removal.
 */
export function cardNavigation(list: HTMLElement): () => void {
  list.setAttribute("role", "list");
  list.setAttribute("aria-label", "Examples");
  // JupyterLab (Lumino) would take the arrow keys and Enter for its notebook commands
  list.setAttribute("data-lm-suppress-shortcuts", "true");
  const onKey = (event: KeyboardEvent) => {
    const target = event.target as HTMLElement;
    if (FORM_CONTROLS.has(target.tagName) || event.altKey || event.ctrlKey || event.metaKey) return;
    const card = target.closest<HTMLElement>(".iw-card");
    if (!card || !list.contains(card)) return;
    if (event.key === "Enter" && target === card) {
      card.querySelector<HTMLElement>(".iw-zoomable")?.click();
      event.preventDefault();
      return;
    }
    const move = MOVES[event.key];
    if (!move) return;
    const cards = Array.from(list.querySelectorAll<HTMLElement>(":scope > .iw-card"));
    const next = cards[move(cards.indexOf(card), cards.length)];
    if (next) {
      event.preventDefault();
      next.focus();
    }
  };
  list.addEventListener("keydown", onKey);
  return () => list.removeEventListener("keydown", onKey);
}
