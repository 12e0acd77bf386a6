// Shapes of the synced state and messages (see insight_widget/widget/widget.py).

export interface WireTensor {
  dtype: "float32" | "float16" | "uint8" | "int32";
  shape: number[];
  data: DataView | ArrayBuffer | Uint8Array | null;
  scale?: number;
}

export interface ArgumentSchema {
  name: string;
  kind: "int" | "float" | "enum" | "bool" | "layer" | "neuron";
  default: unknown;
  label: string;
  help: string;
  optional: boolean;
  min?: number;
  max?: number;
  choices?: string[];
}

export interface MethodSchema {
  name: string;
  family: string;
  output: "input" | "layer";
  target: boolean;
  baselines: string;
  help: string;
  has_delta: boolean;
  arguments: ArgumentSchema[];
}

export interface FeatureSpec {
  name: string;
  type: "image" | "text" | "general" | "timeseries" | "empty";
  baselines: string[];
}

export interface Spec {
  classes: string[];
  models: string[];
  features: FeatureSpec[];
  methods: MethodSchema[];
  layers: { choices: string[]; default: string | null }[];
  use_label_for_attr: boolean;
  predictions: string[];
  max_examples: number;
}

export interface Prediction {
  index: number;
  score: number;
  scalar?: boolean;
}

export interface LayerResult {
  kind: "spatial" | "sequence" | "vector";
  name: string | null;
  shape: number[];
  values: WireTensor;
}

export interface ModelResult {
  model: number;
  method: string;
  target: number | null;
  attribution: (WireTensor | null)[];
  layer: LayerResult | null;
  contributions: (number | null)[];
  delta: number | null;
  error: string | null;
  warning?: string | null;
  seconds?: number;
}

export type FeatureInput =
  | { type: "image"; original: WireTensor }
  | { type: "text"; tokens: string[] }
  | { type: "general"; values: WireTensor; names: string[] }
  | { type: "timeseries"; signal: WireTensor; sample_rate?: number; channel_names?: string[] }
  | { type: "empty" };

export interface Example {
  id: number;
  position: number;
  label: number | null;
  inputs: FeatureInput[];
  predictions: Prediction[][];
  models: ModelResult[];
  /** the method compared side by side, per model (null entries when not comparing) */
  compare?: (ModelResult | null)[];
}

export interface Settings {
  method: string;
  arguments: Record<string, unknown>;
  baselines: string[];
  active: boolean[];
  compare?: { method: string; arguments: Record<string, unknown> } | null;
}

export interface Filters {
  prediction: string;
  classes: string[];
  num_examples: number;
  max_batches?: number;
}

export interface Status {
  id?: unknown;
  kind?: string;
  state?: string;
  message?: string;
  dataset_end?: boolean;
  scanned?: number;
  found?: number;
}

/** The part of the anywidget model we use (AFM); a fake in tests, a page model in exports. */
export interface WidgetModel {
  get(key: string): any;
  set(key: string, value: unknown): void;
  on(event: string, callback: (...args: any[]) => void): void;
  off(event?: string | null, callback?: ((...args: any[]) => void) | null): void;
  save_changes(): void;
  send(content: unknown, callbacks?: unknown, buffers?: ArrayBuffer[]): void;
  static?: boolean;
}

/** How attributions are drawn; changing any of these re-colours in the browser only. */
export interface DisplayOptions {
  sign: "all" | "positive" | "negative" | "absolute";
  colormap: string;
  normalize: "example" | "shared" | "absolute";
  absoluteScale: number;
  overlay: "heatmap" | "blend" | "masked" | "alpha" | "original";
  opacity: number;
}
