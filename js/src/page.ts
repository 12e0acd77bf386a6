// The standalone page (export.py's HTML export, server.py's serve()): the widget rendered
// against an in-page model built from the state embedded in the page, talking to the kernel
// through the transport that the page names.

import widget from "./index";
import { pageModel } from "./page/model";
import { httpTransport, staticTransport, type Transport } from "./page/transport";
import type { WidgetState } from "./types";
import { reviveBytes } from "./wire";

interface PageConfig {
  transport: "static" | "http";
  /** replies already reflected in the embedded state (not replayed by the first poll) */
  after: number;
}

function embedded<T>(id: string): T {
  const text = document.getElementById(id)?.textContent ?? "";
  return JSON.parse(text) as T;
}

const config = embedded<PageConfig>("insight-widget-page");
const state = reviveBytes(embedded<unknown>("insight-widget-state")) as WidgetState;
const transport: Transport = config.transport === "http" ? httpTransport(config.after) : staticTransport;
const model = pageModel(state, transport);
const definition = widget();
definition.initialize({ model });
definition.render({ model, el: document.getElementById("insight-widget-root")! });
transport.start((content) => model.receive(reviveBytes(content)));
