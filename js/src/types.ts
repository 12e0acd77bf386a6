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
  /** set when the visualiser shows an attribution store (widget/store_view.py) */
  store?: StoreSpec;
  /** "llm": the generation view (llm_visualizer.py); absent: the classifier view */
  kind?: "llm";
  llm?: LLMSpec;
}

/** The store a visualiser pages through (``StorePages.spec``). */
export interface StoreSpec {
  method: string;
  examples: number;
  /** the attribute() arguments the stored maps were made with */
  arguments: Record<string, unknown>;
  target: unknown;
  /** per-example columns to filter and sort by (score, delta, total, abs_total, max_abs, ...) */
  statistics: string[];
  /** the store has per-class summaries (the dataset panel) */
  summary: boolean;
}

/** A page request: ``filters.store`` of a fetch (``store_view.StoreQuery``). */
export interface StoreQuery {
  label: string;
  prediction: string;
  correct: "all" | "correct" | "incorrect";
  statistic: string;
  minimum: number | null;
  maximum: number | null;
  sort: string;
  descending: boolean;
  page: number;
  size: number;
}

/** Where the shown page is (the fetch's "done" message). */
export interface PageInfo {
  number: number;
  pages: number;
  size: number;
  matching: number;
  total: number;
}

/** One plot of the dataset panel (``StorePages.summary_message``). */
export interface ClassSummary {
  name: string;
  count: number;
  map: WireTensor | null;
  bars: WireTensor | null;
  bars_of: "channel" | "feature" | null;
}

/** The generation view's own choices (llm_methods.py). */
export interface LLMSpec {
  prompts: string[];
  default_max_new_tokens: number;
  granularities: string[];
  baselines: string[];
  attr_targets: string[];
  max_new_tokens: ArgumentSchema;
  rows_per_chunk: ArgumentSchema;
}

/** What an attribution request of the generation view says (LLMRequest.describe). */
export interface LLMRequestInfo {
  prompt: string;
  target: string;
  method: string;
  arguments: Record<string, unknown>;
  granularity: string;
  baseline: string;
  baseline_text: string;
  attr_target: string;
}

/** One chunk of rows of the output-tokens x input-features matrix, from row ``start``. */
export interface RowChunk {
  start: number;
  rows: WireTensor;
  output_tokens: string[];
  input_tokens: string[];
  probs: WireTensor | null;
}

/** The generation view's last attribution (the ``generation`` trait). */
export interface GenerationRecord extends Partial<LLMRequestInfo> {
  id?: RequestId;
  chunks?: RowChunk[];
  input_tokens?: string[];
  output_tokens?: string[];
  seq_attr?: WireTensor;
  sequence_only?: boolean;
  seconds?: number;
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
  /** anytime Integrated Gradients: path nodes spent, |δ| / |F(x) − F(x')|, whether it met
   * the tolerance; ``partial`` for an intermediate round, ``stopped`` when cancelled mid-way */
  steps?: number;
  relative_delta?: number | null;
  converged?: boolean;
  partial?: boolean;
  stopped?: boolean;
  /** served from the session's cache; computed together with this many targets */
  cached?: boolean;
  shared_targets?: number;
  /** with speed options on, once per request: ||a_fast − a|| / ||a|| and both run times */
  speed_error?: { relative: number | null; seconds?: number; reference_seconds?: number } | null;
  /** a stored map: the arguments it was made with, and those that differ from the selected */
  stored?: { arguments: Record<string, unknown>; differs: string[] } | null;
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
  /** per model; missing until its attribution arrives (predictions come first); the kernel
   * pads a gap with null, which the card treats as missing */
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
  speed?: SpeedSettings;
}

/** Opt-in speed options (insight_widget.attr.speed). */
export interface SpeedSettings {
  autocast: boolean;
  channels_last: boolean;
}

export interface Filters {
  prediction: string;
  classes: string[];
  num_examples: number;
  max_batches?: number;
  /** a store's page (only with ``spec.store``): fetch reads this page instead of scanning */
  store?: StoreQuery;
}

export interface Status {
  id?: RequestId;
  kind?: string;
  state?: string;
  message?: string;
  dataset_end?: boolean;
  scanned?: number;
  found?: number;
  detail?: string;
  page?: PageInfo | null;
}

/** The synced traits (widget.py), as the front end reads them. */
export interface WidgetState {
  spec: Spec;
  examples: Example[];
  /** the last settings used (Python fills it; a new view opens with them) */
  settings: SavedSettings;
  status: Status;
  /** true when Python opened the widget in a side panel: inline views then defer to it */
  in_side_panel: boolean;
  /** the generation view's last attribution (LLMWidget only) */
  generation?: GenerationRecord;
}

export interface SavedSettings extends Partial<Settings> {
  filters?: Partial<Filters>;
}

export type RequestId = string | number;

/** Kernel -> front end custom messages (session.py, widget.py); bytes restored from buffers. */
export type KernelMessage =
  | { type: "fetch_started"; id: RequestId; settings?: unknown }
  | { type: "progress"; id: RequestId; fraction: number; label?: string }
  | { type: "example"; id: RequestId; example: Example }
  | { type: "result"; id: RequestId; example: number; model: number; result: ModelResult; compare?: ModelResult | null }
  | ({ type: "done"; id: RequestId } & Status)
  | { type: "export"; id: RequestId; html: string }
  | { type: "reply"; id: RequestId; kind: "store_summary"; statistic: string; method: string; classes: ClassSummary[] }
  | LLMMessage
  | QualityMessage;

/** Kernel -> front end replies of the generation view (llm_session.py). */
export type LLMMessage =
  | { type: "generated"; id: RequestId; prompt: string; target: string }
  | ({ type: "llm_started"; id: RequestId } & LLMRequestInfo)
  | ({ type: "llm_rows"; id: RequestId } & RowChunk)
  | { type: "llm_result"; id: RequestId; record: GenerationRecord };

/** The generation view's attribution settings (LLMAttributionVisualizer.request). */
export interface LLMSettings {
  method: string;
  arguments: Record<string, unknown>;
  prompt: string;
  target: string;
  granularity: string;
  baseline: string;
  baseline_text: string;
  attr_target: string;
  rows_per_chunk: number;
}

/** One measured part of the quality panel (session.py ``_quality``, widget/quality.py). */
export interface QualityMessage {
  type: "quality";
  id: RequestId;
  example: number;
  model: number;
  method: string;
  compare: boolean;
  part: "deletion" | "insertion" | "infidelity" | "sensitivity";
  value: number | null;
  /** deletion/insertion: the score at fractions k / n of the features moved, k = 0..n */
  curve?: WireTensor;
  error?: string | null;
}

/** Front end -> kernel custom messages. */
export type FrontendMessage =
  | { type: "fetch" | "recompute"; id: string; settings: Settings; filters: Filters }
  | { type: "attribute"; id: string; example: number; model: number; target: number; settings: Settings }
  | { type: "quality"; id: string; example: number; model: number; target: number | null; compare: boolean; settings: Settings }
  | { type: "store_live"; id: string; example: number; model: number; target: number | null; settings: Settings }
  | { type: "store_summary"; id: string; statistic?: string }
  | { type: "cancel"; id: string; request?: RequestId }
  | { type: "export"; id: string }
  | { type: "generate"; id: string; prompt: string; max_new_tokens: number }
  | { type: "attribute"; id: string; settings: LLMSettings };

export type Buffers = (DataView | ArrayBuffer)[];
export type CustomMessageHandler = (content: unknown, buffers: Buffers) => void;

/** The part of the anywidget model we use (AFM); a fake in tests, a page model in exports. */
export interface WidgetModel {
  get<K extends keyof WidgetState>(key: K): WidgetState[K] | undefined;
  set<K extends keyof WidgetState>(key: K, value: WidgetState[K]): void;
  on(event: "msg:custom", callback: CustomMessageHandler): void;
  on(event: `change:${keyof WidgetState}`, callback: () => void): void;
  off(event: "msg:custom", callback: CustomMessageHandler): void;
  off(event: `change:${keyof WidgetState}`, callback: () => void): void;
  save_changes(): void;
  send(content: FrontendMessage, callbacks?: unknown, buffers?: ArrayBuffer[]): void;
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
