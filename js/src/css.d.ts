// esbuild bundles imported CSS into static/widget.css
declare module "*.css";
