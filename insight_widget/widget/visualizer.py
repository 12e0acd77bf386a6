"""``AttributionVisualizer``: Captum Insights' entry point, on the insight_widget engine.

Holds the models, class names, features and dataset; checks them against each other at
construction; fetches examples with bounded scans and filters; predicts; and runs attributions
through :class:`~insight_widget.widget.attribution.AttributionRunner`. The widget
(:meth:`render`) drives it from the browser through a compute session; the Insights methods
(``visualize``, ``_update_config``, ``get_insights_config``,
``_calculate_attribution_from_cache``) still work from Python.
"""

from __future__ import annotations

import inspect
import itertools
from collections import OrderedDict, namedtuple
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from ..attr._utils.validation import describe
from .attribution import (
    AttributionRunner,
    PreparedExample,
    Settings,
    model_output,
    slice_args,
    top_predictions,
)
from .batch import Batch
from .dataset import DatasetReader
from .features import BaseFeature, FeatureOutput, TextFeature
from .registry import DEFAULT_METHODS, METHODS, MethodSpec, applicability, find_method

VisualizationOutput = namedtuple("VisualizationOutput",
                                 "feature_outputs actual predicted active_index model_index")
OutputScore = namedtuple("OutputScore", "score index label")
PREDICTIONS = ("all", "correct", "incorrect")
MAX_EXAMPLES = 64
#: prepared examples kept for target changes (older ones are dropped first)
EXAMPLE_CACHE = 256


class FetchResult:
    """What one fetch found: the examples and how the scan ended."""

    def __init__(self) -> None:
        self.examples: List[PreparedExample] = []
        self.scanned = 0
        self.dataset_end = False
        self.message = ""


class AttributionVisualizer:
    """Interactive attributions for one or more models on a dataset of :class:`Batch`.

    Args:
        models: a model or a list of models compared side by side (same inputs and classes).
        classes: class names, one per output score.
        features: one feature per model input, in the model's argument order.
        dataset: an iterable of :class:`Batch` (a list, a DataLoader wrapper, a generator).
        score_func: applied to the model output before ranking predictions (e.g. softmax).
        use_label_for_attr: attribute to the chosen class (top prediction by default, or the
            one clicked); False calls the method with ``target=None`` (scalar-output models).

    Raises ``TypeError``/``ValueError`` when the features do not match the model inputs, the
    classes do not match the model outputs, or the dataset yields something other than Batch.
    """

    def __init__(
        self,
        models: Union[List[nn.Module], nn.Module],
        classes: List[str],
        features: Union[List[BaseFeature], BaseFeature],
        dataset: Iterable[Batch],
        score_func: Optional[Callable[[Tensor], Tensor]] = None,
        use_label_for_attr: bool = True,
    ) -> None:
        self.models = list(models) if isinstance(models, (list, tuple)) else [models]
        if not self.models or not all(callable(m) for m in self.models):
            raise TypeError("`models` must be a model or a list of models; got "
                            f"{describe(models)}.")
        if not isinstance(classes, (list, tuple)) or not all(isinstance(c, str) for c in classes):
            raise TypeError(f"`classes` must be a list of str; got {describe(classes)}.")
        self.classes = list(classes)
        self.features = list(features) if isinstance(features, (list, tuple)) else [features]
        for feature in self.features:
            if not isinstance(feature, BaseFeature):
                raise TypeError("`features` must be BaseFeature instances (ImageFeature, "
                                f"TextFeature, ...); got {describe(feature)}.")
        if score_func is not None and not callable(score_func):
            raise TypeError(f"`score_func` must be callable or None; got {describe(score_func)}.")
        self.dataset = dataset
        self.score_func = score_func
        self.use_label_for_attr = bool(use_label_for_attr)
        self._reader = DatasetReader(dataset)
        self._examples: OrderedDict[int, PreparedExample] = OrderedDict()
        self._ids = itertools.count()
        self._positions = itertools.count()
        self._check_against_first_batch()
        self._runner = AttributionRunner(self.models, self.features,
                                         token_ids=not self._float_inputs)
        self.methods = self._applicable_methods()
        # Integrated Gradients; for token-id inputs (no input gradients) its layer variant,
        # which the default layer (the embedding) turns into one score per token.
        names = [m.name for m in self.methods]
        default = next((name for name in DEFAULT_METHODS if name in names), names[0])
        self._config: Dict[str, Any] = {"attribution_method": default,
                                        "arguments": find_method(default).defaults(),
                                        "prediction": "all", "classes": [], "num_examples": 4}
        self._widget = None

    # -- construction checks ---------------------------------------------------------------------
    def _check_against_first_batch(self) -> None:
        batch = self._reader.peek()
        if batch is None:
            raise ValueError("`dataset` yielded no Batch: it is empty.")
        inputs = batch.input_tuple()
        if len(inputs) != len(self.features):
            raise ValueError(
                f"`features` has {len(self.features)} entries but the dataset's Batch.inputs has "
                f"{len(inputs)} tensors (shapes {[tuple(t.shape) for t in inputs]}): give one "
                "feature per model input, in order.")
        example = self._prepare_rows(batch, [0])[0]
        self._float_inputs = all(t.is_floating_point() for t in example.inputs)
        for index, model in enumerate(self.models):
            try:
                scores = model_output(model, example.inputs, example.additional_args,
                                      self.score_func)
            except Exception as error:
                raise ValueError(
                    f"model {index} failed on the first example with inputs of shapes "
                    f"{[tuple(t.shape) for t in example.inputs]} (after input_transforms): "
                    f"{type(error).__name__}: {error}. Check that `features` match the model's "
                    "inputs.") from error
            outputs = scores.reshape(scores.shape[0] if scores.dim() else 1, -1).shape[1]
            if outputs > 1 and outputs != len(self.classes):
                raise ValueError(
                    f"`classes` has {len(self.classes)} names but model {index} returns "
                    f"{outputs} scores per example: give one class name per output.")

    def _applicable_methods(self) -> List[MethodSpec]:
        all_modules = all(isinstance(m, nn.Module) for m in self.models)
        has_layers = all(self._runner.layer_names)
        found = [spec for spec in METHODS
                 if applicability(spec, self._float_inputs, all_modules, has_layers).applies]
        if not found:
            raise ValueError("no attribution method applies to these models and features.")
        return found

    # -- examples ---------------------------------------------------------------------------------
    def _prepare_rows(self, batch: Batch, rows: Sequence[int]) -> List[PreparedExample]:
        inputs = batch.input_tuple()
        labels = batch.label_tensor()
        size = inputs[0].shape[0]
        if labels is not None and labels.numel() != size:
            raise ValueError(f"`Batch.labels` has {labels.numel()} entries for {size} examples.")
        prepared = []
        for row in rows:
            raw = tuple(t[row:row + 1] for t in inputs)
            transformed = []
            for feature, value in zip(self.features, raw):
                try:
                    transformed.append(feature.transform_input(value))
                except Exception as error:
                    raise ValueError(f"input_transforms of feature {feature.name!r} failed on an "
                                     f"input of shape {tuple(value.shape)}: {error}") from error
            label = None if labels is None else int(labels[row])
            prepared.append(PreparedExample(
                id=-1, position=-1, raw=raw, inputs=tuple(transformed),
                additional_args=slice_args(batch.additional_args, row, size), label=label))
        return prepared

    def _predict(self, examples: List[PreparedExample]) -> None:
        """Top-k predictions of every model for ``examples`` (batched per model)."""
        if not examples:
            return
        shapes = {tuple(tuple(t.shape) for t in e.inputs) for e in examples}
        for _index, model in enumerate(self.models):
            if len(shapes) == 1 and all(e.additional_args is None for e in examples):
                stacked = [torch.cat(parts, 0) for parts in zip(*(e.inputs for e in examples))]
                scores = model_output(model, stacked, None, self.score_func)
                rows = top_predictions(scores, len(self.classes))
            else:  # ragged inputs or per-example args: one forward per example
                rows = [top_predictions(model_output(model, e.inputs, e.additional_args,
                                                     self.score_func), len(self.classes))[0]
                        for e in examples]
            for example, row in zip(examples, rows):
                example.predictions.append(row)

    def _keep(self, example: PreparedExample, prediction: str, classes: Sequence[str]) -> bool:
        tops = [p[0]["index"] for p in example.predictions]
        if classes:
            names = {self.class_name(i) for i in tops}
            if example.label is not None:
                names.add(self.class_name(example.label))
            if not names & set(classes):
                return False
        if prediction == "all":
            return True
        if example.label is None:
            return False  # correctness is undefined without a label
        right = [t == example.label for t in tops]
        return all(right) if prediction == "correct" else not all(right)

    def class_name(self, index: Optional[int]) -> Optional[str]:
        if index is None:
            return None
        return self.classes[index] if 0 <= index < len(self.classes) else str(index)

    def fetch(self, num_examples: int = 4, prediction: str = "all",
              classes: Sequence[str] = (), max_batches: int = 64,
              restart: bool = False, should_stop: Callable[[], bool] = lambda: False,
              on_batch: Optional[Callable[[int, int], Any]] = None) -> FetchResult:
        """Read the dataset until ``num_examples`` examples pass the filters, at most
        ``max_batches`` batches, or the end of the dataset. Never loops forever.
        ``on_batch(batches_read, examples_scanned)`` is called after each batch read."""
        if prediction not in PREDICTIONS:
            raise ValueError(f"`prediction` must be one of {list(PREDICTIONS)}; "
                             f"got {prediction!r}.")
        unknown = [c for c in classes if c not in self.classes]
        if unknown:
            raise ValueError(f"`classes` filter has unknown class names {unknown}.")
        if not 1 <= int(num_examples) <= MAX_EXAMPLES:
            raise ValueError(f"`num_examples` must be in [1, {MAX_EXAMPLES}]; got {num_examples}.")
        result = FetchResult()
        reader = self._reader
        if (restart or (reader.ended and not reader.pending)) and not reader.restart():
            result.dataset_end = True
            result.message = ("The dataset is a one-shot iterator and has been read to the "
                              "end; pass a list or a re-iterable dataset to read it again.")
            return result
        batches = 0
        while len(result.examples) < num_examples:
            if should_stop():
                return result
            if not reader.pending:
                if batches >= max_batches:
                    break
                batch = reader.next_batch()
                if batch is None:
                    result.dataset_end = True
                    break
                batches += 1
                rows = self._prepare_rows(batch, range(len(batch)))
                self._predict(rows)
                reader.pending.extend(rows)
                if on_batch is not None:
                    on_batch(batches, result.scanned)
            example = reader.pending.popleft()
            example.position = next(self._positions)
            result.scanned += 1
            if self._keep(example, prediction, classes):
                example.id = next(self._ids)
                self._remember(example)
                result.examples.append(example)
        result.message = self._scan_message(result, num_examples, prediction, classes,
                                            max_batches)
        return result

    def _scan_message(self, result: FetchResult, wanted: int, prediction: str,
                      classes: Sequence[str], max_batches: int) -> str:
        filters = []
        if classes:
            filters.append(f"classes {list(classes)}")
        if prediction != "all":
            filters.append(f"{prediction} predictions")
        described = " and ".join(filters) or "no filter"
        if not result.examples:
            where = ("before the end of the dataset" if result.dataset_end
                     else f"in {max_batches} batches")
            return (f"No example matches {described}: scanned {result.scanned} examples "
                    f"{where}. Relax the filters or fetch again to scan further.")
        if result.dataset_end:
            return (f"End of the dataset: {len(result.examples)} of {wanted} examples found; "
                    "fetch again to start from the beginning.")
        if len(result.examples) < wanted:
            return (f"Found {len(result.examples)} of {wanted} examples matching {described} "
                    f"in {max_batches} batches; fetch again to scan further.")
        return ""

    def _remember(self, example: PreparedExample) -> None:
        self._examples[example.id] = example
        while len(self._examples) > EXAMPLE_CACHE:
            self._examples.popitem(last=False)

    def example(self, example_id: int) -> PreparedExample:
        try:
            return self._examples[example_id]
        except KeyError:
            raise ValueError(f"example {example_id} is no longer cached; fetch again.") from None

    # -- settings ---------------------------------------------------------------------------------
    def method_spec(self, name: str) -> MethodSpec:
        spec = find_method(name)
        if spec not in self.methods:
            raise ValueError(f"{spec.name} does not apply to these models and features; "
                             f"choose one of {[m.name for m in self.methods]}.")
        return spec

    def make_settings(self, method: str, arguments: Optional[Dict[str, Any]] = None,
                      baselines: Optional[Sequence[Optional[str]]] = None,
                      active: Optional[Sequence[bool]] = None) -> Settings:
        """Validated settings for a run (defaults for anything not given)."""
        spec = self.method_spec(method)
        parsed = spec.parse_arguments(arguments)
        names = list(baselines or [])
        chosen = []
        for i, feature in enumerate(self.features):
            options = feature.baseline_names()
            name = names[i] if i < len(names) and names[i] else options[0]
            if name not in options:
                raise ValueError(f"baseline of feature {feature.name!r} must be one of "
                                 f"{options}; got {name!r}.")
            chosen.append(name)
        flags = [True] * len(self.features) if active is None else [bool(a) for a in active]
        if len(flags) != len(self.features):
            raise ValueError(f"`active` needs one flag per feature ({len(self.features)}); "
                             f"got {len(flags)}.")
        return Settings(spec, parsed, chosen, flags)

    def default_target(self, example: PreparedExample, model_index: int) -> Optional[int]:
        if not self.use_label_for_attr:
            return None
        top = example.predictions[model_index][0]
        return None if top.get("scalar") else top["index"]

    def attribute(self, example: PreparedExample, model_index: int, settings: Settings,
                  target: Any = "default", progress: Optional[Callable[[float], Any]] = None):
        """Run the chosen method for one example and model (see ``AttributionRunner.run``)."""
        if target == "default":
            target = self.default_target(example, model_index)
        elif target is not None:
            target = int(target)
            if not self.use_label_for_attr:
                target = None
            elif len(self.classes) > 1 and not 0 <= target < len(self.classes):
                raise ValueError(f"`target` must be a class index in [0, {len(self.classes)}); "
                                 f"got {target}.")
        return self._runner.run(example, model_index, settings, target, progress)

    # -- the UI ------------------------------------------------------------------------------------
    def spec(self) -> Dict[str, Any]:
        """Everything the front end needs to build its controls (JSON)."""
        methods = []
        for spec in self.methods:
            cls = spec.resolve()
            has_delta = bool(cls is not None and "return_convergence_delta" in
                             inspect.signature(cls.attribute).parameters)
            methods.append(spec.schema(has_delta))
        return {
            "classes": list(self.classes),
            "models": [type(m).__name__ for m in self.models],
            "features": [{"name": f.name, "type": f.visualization_type(),
                          "baselines": f.baseline_names()} for f in self.features],
            "methods": methods,
            "layers": [{"choices": names, "default": default} for names, default in
                       zip(self._runner.layer_names, self._runner.default_layers)],
            "use_label_for_attr": self.use_label_for_attr,
            "predictions": list(PREDICTIONS),
            "max_examples": MAX_EXAMPLES,
        }

    def widget(self):
        """The anywidget for this visualiser (created once)."""
        if self._widget is None:
            from .widget import VisualizerWidget

            self._widget = VisualizerWidget(self)
        return self._widget

    def render(self, debug: bool = True, side_panel: bool = False,
               title: Optional[str] = None) -> None:
        """Display the visualiser once; returns nothing, like Insights' ``render`` (so a cell
        ending in ``render()`` does not show it twice; ``widget()`` returns the widget).

        ``side_panel=True`` opens it in JupyterLab's right-hand side panel (``sidecar``);
        elsewhere (Notebook 7, VS Code, Colab, Voila, marimo) it is shown inline.
        ``debug`` is kept for Insights compatibility: errors always show in the UI.
        """
        from .display import show

        show(self.widget(), side_panel=side_panel, title=title or "insight_widget")

    def serve(self, blocking: bool = False, debug: bool = False, port: Optional[int] = None,
              bind_all: bool = False, token: Optional[str] = None) -> int:
        """Serve the visualiser at ``http://localhost:<port>/?token=...`` (Insights'
        ``serve``), print that URL and return the port; ``blocking`` keeps serving in this
        thread. A second call stops the previous server first. ``token``: None draws a random
        one (see ``server_url``); ``""`` turns the check off, only without ``bind_all``.
        ``debug`` is accepted for Insights compatibility. See ``server.py`` for the checks."""
        from .server import VisualizerServer

        if getattr(self, "_server", None) is not None:
            self._server.stop()
        self._server = VisualizerServer(self.widget(), port=port, bind_all=bind_all,
                                        token=token)
        print(f"Fetch data and view insight_widget at {self._server.url}")
        return self._server.start(blocking)

    @property
    def server_url(self) -> Optional[str]:
        """The URL of the page ``serve()`` runs, with its token (None before ``serve()``)."""
        server = getattr(self, "_server", None)
        return server.url if server is not None else None

    # -- Captum Insights compatibility ---------------------------------------------------------
    def get_insights_config(self) -> Dict[str, Any]:
        """Insights' init payload: classes, methods, their argument schemas, the selection."""
        return {"classes": list(self.classes), "methods": [m.name for m in self.methods],
                "method_arguments": {m.name: {a.name: a.schema() for a in m.arguments}
                                     for m in self.methods},
                "selected_method": self._config["attribution_method"]}

    def _update_config(self, settings: Dict[str, Any]) -> None:
        """Insights' settings dict: attribution_method, arguments, prediction, classes."""
        method = settings.get("attribution_method", self._config["attribution_method"])
        spec = self.method_spec(method)
        arguments = spec.parse_arguments(settings.get("arguments"))
        self._config = {"attribution_method": spec.name, "arguments": arguments,
                        "prediction": settings.get("prediction", "all"),
                        "classes": list(settings.get("classes", [])),
                        "num_examples": int(settings.get("num_examples", 4))}

    def visualize(self) -> List[List[VisualizationOutput]]:
        """Fetch with the current config and attribute synchronously (one list per example,
        one VisualizationOutput per model); stops at the end of the dataset, never loops."""
        config = self._config
        fetched = self.fetch(config["num_examples"], config["prediction"], config["classes"])
        settings = self.make_settings(config["attribution_method"], config["arguments"])
        return [[self._vis_output(example, m, settings) for m in range(len(self.models))]
                for example in fetched.examples]

    def _token_layer_attribution(self, example: PreparedExample, layer: Optional[Tensor]
                                 ) -> Optional[Tuple[int, Tensor]]:
        """(feature index, attribution) when a layer attribution (1, L, D) is per token of the
        only text feature (L token ids, e.g. Layer Integrated Gradients on the embedding):
        Insights' outputs then colour the tokens by it (summed over D)."""
        text = [i for i, f in enumerate(self.features) if isinstance(f, TextFeature)]
        if layer is None or len(text) != 1 or layer.dim() != 3 or layer.shape[0] != 1:
            return None
        ids = example.raw[text[0]]
        if ids.is_floating_point() or ids.numel() != layer.shape[1]:
            return None
        return text[0], layer

    def _calculate_attribution_from_cache(self, input_index: int, model_index: int,
                                          target: Optional[Tensor]) -> VisualizationOutput:
        settings = self.make_settings(self._config["attribution_method"],
                                      self._config["arguments"])
        example = self.example(input_index)
        chosen = None if target is None else int(torch.as_tensor(target).reshape(-1)[0])
        return self._vis_output(example, model_index, settings, chosen)

    def _vis_output(self, example: PreparedExample, model_index: int, settings: Settings,
                    target: Any = "default") -> VisualizationOutput:
        outcome = self.attribute(example, model_index, settings, target)
        if outcome.wire["error"]:
            raise RuntimeError(outcome.wire["error"])
        total = sum(abs(c) for c in outcome.wire["contributions"] if c is not None) or 1.0
        outputs = []
        token_layer = self._token_layer_attribution(example, outcome.layer)
        for i, feature in enumerate(self.features):
            attribution = outcome.attributions[i] if outcome.attributions else None
            contribution = (outcome.wire["contributions"][i] or 0.0) / total
            if attribution is None and token_layer is not None and token_layer[0] == i:
                attribution, contribution = token_layer[1], 1.0
            if attribution is None:
                outputs.append(FeatureOutput(feature.name, feature.encode_input(example.raw[i]),
                                             None, feature.visualization_type(), contribution))
            else:
                outputs.append(feature.visualize(attribution, example.raw[i], contribution))
        predicted = [OutputScore(p["score"], p["index"], self.class_name(p["index"]))
                     for p in example.predictions[model_index]]
        actual = None if example.label is None else OutputScore(
            100, example.label, self.class_name(example.label))
        return VisualizationOutput(outputs, actual, predicted, outcome.wire["target"],
                                   model_index)
