// Reading real images: an image view's picture and map enlarged in a modal <dialog>, at
// natural size up to the panel's width, the map drawn at the picture's pixel size with the
// same CSS size, so the two stay aligned whatever the shape (224x224, non-square) and the
// overlay mode. Opened by click, Enter or Space on a figure; Escape or a click closes it and
// focus returns to the figure.

import { element } from "./views/view";

/** What a view offers the zoom: its pixel size and how to paint its canvases there. */
export interface ZoomSource {
  width: number;
  height: number;
  /** "Example #3 · Photo · Integrated Gradients · target cat" (set by the card) */
  title: string;
  drawOriginal: ((canvas: HTMLCanvasElement) => void) | null;
  /** paints the map with the display options and scale the card used last */
  drawMap: ((canvas: HTMLCanvasElement) => void) | null;
  mapCaption: string;
}

/** The event a zoomable figure sends up to its view (``App`` opens the dialog). */
export const ZOOM_EVENT = "iw-zoom";

/** Small pictures are enlarged (whole multiples, pixels stay square) to at least this width. */
export const ZOOM_MIN = 256;
const GAP = 12;

/**
 * The CSS size of each canvas and the layout for a ``width`` x ``height`` picture in
 * ``available`` px: natural size, or a whole multiple of it up to ``ZOOM_MIN`` for small
 * pictures; side by side when ``panels`` fit, else stacked; never wider than ``available``.
 * Height always follows the picture's aspect ratio, so image and map have the same box.
 */
export function zoomSize(width: number, height: number, available: number, panels: number
): { width: number; height: number; row: boolean } {
  const room = Math.max(1, available);
  let shown = width >= ZOOM_MIN ? width : width * Math.max(1, Math.floor(ZOOM_MIN / width));
  const row = panels > 1 && panels * shown + (panels - 1) * GAP <= room;
  shown = Math.min(shown, row ? (room - (panels - 1) * GAP) / panels : room);
  return { width: shown, height: (shown * height) / width, row };
}

/** Make ``figure`` open the zoom of ``source`` on click, Enter or Space. */
export function makeZoomable(figure: HTMLElement, source: ZoomSource, what: string): void {
  figure.classList.add("iw-zoomable");
  figure.tabIndex = 0;
  figure.setAttribute("role", "button");
  const label = () => `${source.title ? `${source.title}: ` : ""}${what}. Enlarge`;
  figure.setAttribute("aria-label", label());
  const open = () => {
    figure.setAttribute("aria-label", label());
    figure.dispatchEvent(new CustomEvent<ZoomSource>(ZOOM_EVENT, { bubbles: true, composed: true, detail: source }));
  };
  figure.addEventListener("click", open);
  figure.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      event.stopPropagation();
      open();
    }
  });
}

/** The enlarged view: one modal <dialog> per widget view (top layer, so no host clips it). */
export class ZoomDialog {
  readonly el = element("dialog", "iw-zoom");
  private source: ZoomSource | null = null;
  private opener: HTMLElement | null = null;
  private original: HTMLCanvasElement | null = null;
  private map: HTMLCanvasElement | null = null;

  constructor(private panel: HTMLElement) {
    this.el.dataset.testid = "iw-zoom";
    this.el.setAttribute("aria-modal", "true");
    this.el.setAttribute("data-lm-suppress-shortcuts", "true"); // Escape is ours, not JupyterLab's
    // a click anywhere (backdrop, image, close button) closes; Escape closes natively
    this.el.addEventListener("click", () => this.close());
    this.el.addEventListener("close", () => this.closed());
  }

  get isOpen(): boolean {
    return this.el.open;
  }

  open(source: ZoomSource, opener: HTMLElement | null): void {
    this.source = source;
    this.opener = opener;
    const title = element("div", "iw-zoom-title", source.title);
    title.id = `iw-zoom-title-${Math.random().toString(36).slice(2, 8)}`;
    this.el.setAttribute("aria-labelledby", title.id);
    const close = element("button", "iw-button iw-zoom-close", "Close");
    close.type = "button";
    close.dataset.testid = "iw-zoom-close";
    close.title = "close (Escape)";
    const panels = (source.drawOriginal ? 1 : 0) + (source.drawMap ? 1 : 0);
    const available = Math.min(this.panel.clientWidth || window.innerWidth, window.innerWidth) - 48;
    const size = zoomSize(source.width, source.height, available, panels);
    const figures = element("div", `iw-zoom-figures${size.row ? " iw-zoom-row" : ""}`);
    const canvas = (testid: string, caption: string, label: string) => {
      const figure = element("figure", "iw-figure");
      const c = element("canvas", "iw-zoom-canvas");
      c.width = source.width;
      c.height = source.height;
      c.style.width = `${size.width}px`;
      c.style.height = `${size.height}px`;
      c.dataset.testid = testid;
      c.setAttribute("role", "img");
      c.setAttribute("aria-label", label);
      figure.append(c, element("figcaption", "", caption));
      figures.append(figure);
      return c;
    };
    this.original = source.drawOriginal ? canvas("iw-zoom-original", "Original", `${source.title}: original image`) : null;
    this.map = source.drawMap ? canvas("iw-zoom-map", source.mapCaption, `${source.title}: ${source.mapCaption.toLowerCase()} map`) : null;
    const head = element("div", "iw-zoom-head");
    head.append(title, close);
    this.el.replaceChildren(head, figures);
    this.redraw();
    if (!this.el.open) {
      if (this.el.isConnected && typeof this.el.showModal === "function") this.el.showModal();
      else this.el.setAttribute("open", "");
    }
    close.focus();
  }

  /** Re-colour the open zoom (display options changed). */
  redraw(): void {
    if (!this.source) return;
    if (this.original) this.source.drawOriginal?.(this.original);
    if (this.map) this.source.drawMap?.(this.map);
  }

  close(): void {
    if (this.el.open) this.el.close();
    else this.closed();
  }

  private closed(): void {
    this.source = null;
    this.original = this.map = null;
    this.el.replaceChildren();
    const opener = this.opener;
    this.opener = null;
    if (opener?.isConnected) opener.focus();
  }
}
