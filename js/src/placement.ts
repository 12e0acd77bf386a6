// Where a view goes: inline, or in a side area (JupyterLab's side panel through sidecar). When
// Python asked for the side panel, the inline view stands aside while a side view exists, and
// shows the widget itself on hosts without a side area (Notebook 7 with sidecar installed).

import { App } from "./app";
import type { Placement, Shared } from "./shared";
import { GenerationView } from "./views/generation";
import { element } from "./views/view";

/** How long an inline view waits for the side panel's view before showing itself (ms). */
export const SIDE_PANEL_WAIT = 2500;

function placementOf(el: HTMLElement): Placement {
  return el.closest("#jp-right-stack, #jp-left-stack, .jp-SidePanel, .lm-DockPanel-widget.jp-Sidecar") ? "side" : "inline";
}

/** How often a view that waits checks where it was placed (ms). */
const PLACEMENT_POLL = 100;

/**
 * One view. When Python opened the widget in a side panel, the inline view stands aside while
 * a side view exists; on hosts without a side area (Notebook 7 with sidecar installed) no side
 * view appears and the inline view shows the widget, saying why. Hosts attach ``el`` to the
 * page after ``render``, so where a view is placed is learnt by polling until it is attached.
 */
export function view(shared: Shared, el: HTMLElement): () => void {
  let app: App | GenerationView | null = null;
  const cleanups: (() => void)[] = [() => app?.destroy()];
  const cleanup = () => cleanups.forEach((f) => f());
  const mount = (placement: Placement, note = "") => {
    cleanups.push(shared.place(el, placement));
    el.replaceChildren();
    app = shared.spec.kind === "llm" ? new GenerationView(shared, el) : new App(shared, el);
    if (note) app.root.prepend(element("div", "iw-note iw-fallback", note));
    app.observe(el);
  };
  if (!shared.sidePanelRequested) {
    mount("inline");
    return cleanup;
  }
  const aside = element("div", "iw-note iw-aside", "insight_widget: opening in the side panel…");
  aside.dataset.testid = "iw-aside";
  el.append(aside);
  cleanups.push(() => aside.remove());
  const deadline = performance.now() + SIDE_PANEL_WAIT;
  let timer = 0;
  cleanups.push(() => clearTimeout(timer));
  const check = () => {
    if (app) return;
    if (el.isConnected && placementOf(el) === "side") {
      mount("side");
    } else if (shared.hasSideView) {
      aside.textContent = "insight_widget is shown in the side panel.";
      timer = window.setTimeout(check, PLACEMENT_POLL * 5); // takes over if the panel closes
    } else if (performance.now() >= deadline) {
      mount("inline", "This front end has no side panel: shown here instead.");
    } else {
      timer = window.setTimeout(check, PLACEMENT_POLL);
    }
  };
  check();
  return cleanup;
}

