// A control section: a collapsible box (``<details>``) whose controls follow the shared
// Choices. ``sync`` re-reads them after another view changed something.

import type { Shared } from "../shared";
import { element } from "../views/view";

export interface Section {
  el: HTMLDetailsElement;
  body: HTMLElement;
  sync(): void;
}

export interface SectionContext {
  shared: Shared;
  /** the view that owns the controls: its own changes need no re-sync */
  view: object;
}

export function sectionBox(title: string, testid: string): { el: HTMLDetailsElement; body: HTMLElement } {
  const el = element("details", "iw-section");
  el.open = true;
  el.dataset.testid = testid;
  const summary = element("summary", "iw-section-title", title);
  const body = element("div", "iw-section-body");
  el.append(summary, body);
  return { el, body };
}
