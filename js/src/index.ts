// anywidget entry point: ``render`` builds one view and returns its cleanup.

import "./styles.css";
import { App } from "./app";
import type { WidgetModel } from "./types";

export function render({ model, el }: { model: WidgetModel; el: HTMLElement }): () => void {
  const app = new App(model, el);
  app.observe(el);
  return () => app.destroy();
}

export default { render };
