// Entry point of the anywidget front end (filled in by the visualiser work).
export default {
  render({ el }: { el: HTMLElement }) {
    el.textContent = "insight_widget";
  },
};
