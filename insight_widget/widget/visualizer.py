"""``AttributionVisualizer``: Captum Insights' entry point, on the insight_widget engine.

Holds the models, class names, features and dataset; checks them against each other at
construction; fetches examples with bounded scans and filters; predicts; and runs attributions
through :class:`~insight_widget.widget.attribution.AttributionRunner`. The widget
(:meth:`render`) drives it from the browser through a compute session
(``interface.Visualiser`` is the part of it the widget uses); the dataset scan is
``dataset.ExampleScanner``; the Insights methods (``visualize``, ``_update_config``,
``get_insights_config``, ``_calculate_attribution_from_cache``) are in ``insights.py``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from torch import Tensor, nn

from ..attr.core import describe
from .attribution import (
    AttributionRunner,
    Outcome,
    PreparedExample,
    Settings,
    model_output,
)
from .batch import Batch
from .dataset import MAX_EXAMPLES, PREDICTIONS, ExampleScanner, FetchResult, class_name
from .features import BaseFeature
from .hosting import WidgetHost
from .insights import InsightsMethods
from .interface import Selection
from .registry import DEFAULT_METHODS, METHODS, MethodSpec, applicability, find_method


class AttributionVisualizer(WidgetHost, InsightsMethods):
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
        self._scanner = ExampleScanner(dataset, self.features, self.models, self.classes,
                                       score_func)
        self._check_against_first_batch()
        self._runner = AttributionRunner(self.models, self.features,
                                         token_ids=not self._float_inputs)
        self.methods = self._applicable_methods()
        # Integrated Gradients; for token-id inputs (no input gradients) its layer variant,
        # which the default layer (the embedding) turns into one score per token.
        names = [m.name for m in self.methods]
        default = next((name for name in DEFAULT_METHODS if name in names), names[0])
        self.selection = Selection(default, find_method(default).defaults())

    # -- construction checks ---------------------------------------------------------------------
    def _check_against_first_batch(self) -> None:
        batch = self._scanner.reader.peek()
        if batch is None:
            raise ValueError("`dataset` yielded no Batch: it is empty.")
        inputs = batch.input_tuple()
        if len(inputs) != len(self.features):
            raise ValueError(
                f"`features` has {len(self.features)} entries but the dataset's Batch.inputs has "
                f"{len(inputs)} tensors (shapes {[tuple(t.shape) for t in inputs]}): give one "
                "feature per model input, in order.")
        example = self._scanner.prepare_rows(batch, [0])[0]
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
    def fetch(self, num_examples: int = 4, prediction: str = "all",
              classes: Sequence[str] = (), max_batches: int = 64,
              restart: bool = False, should_stop: Callable[[], bool] = lambda: False,
              on_batch: Optional[Callable[[int, int], Any]] = None) -> FetchResult:
        """Read the dataset until ``num_examples`` examples pass the filters, at most
        ``max_batches`` batches, or the end of the dataset (see ``ExampleScanner.fetch``)."""
        return self._scanner.fetch(num_examples, prediction, classes, max_batches, restart,
                                   should_stop, on_batch)

    def example(self, example_id: int) -> PreparedExample:
        """A fetched example by id (``ValueError`` once it left the cache)."""
        return self._scanner.example(example_id)

    def class_name(self, index: Optional[int]) -> Optional[str]:
        return class_name(self.classes, index)

    # -- settings ---------------------------------------------------------------------------------
    def make_settings(self, method: str, arguments: Optional[Dict[str, Any]] = None,
                      baselines: Optional[Sequence[Optional[str]]] = None,
                      active: Optional[Sequence[bool]] = None) -> Settings:
        """Validated settings for a run (defaults for anything not given)."""
        spec = find_method(method)
        if spec not in self.methods:
            raise ValueError(f"{spec.name} does not apply to these models and features; "
                             f"choose one of {[m.name for m in self.methods]}.")
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

    def request_settings(self, chosen: Mapping[str, Any]
                         ) -> Tuple[Settings, Optional[Settings]]:
        """The settings of a front-end request (``{"method", "arguments", "baselines",
        "active", "compare"}``), and those of the method compared side by side (same
        baselines and modalities, its own arguments), if any."""
        settings = self.make_settings(chosen.get("method", self.selection.method),
                                      chosen.get("arguments"), chosen.get("baselines"),
                                      chosen.get("active"))
        other = chosen.get("compare") or None
        compare = None if not other else self.make_settings(
            other.get("method"), other.get("arguments"), chosen.get("baselines"),
            chosen.get("active"))
        return settings, compare

    def default_target(self, example: PreparedExample, model_index: int) -> Optional[int]:
        if not self.use_label_for_attr:
            return None
        top = example.predictions[model_index][0]
        return None if top.get("scalar") else top["index"]

    def attribute(self, example: PreparedExample, model_index: int, settings: Settings,
                  target: Any = "default", progress: Optional[Callable[[float], Any]] = None
                  ) -> Outcome:
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

    # -- attributions computed elsewhere (widget/stored.py) -----------------------------------
    @classmethod
    def from_store(cls, path: str, models: Any, classes: Sequence[str], features: Any,
                   dataset: Iterable[Batch], **kwargs: Any) -> AttributionVisualizer:
        """Show the maps of an attribution store (``insight_widget.datasets``) for the examples
        of ``dataset`` (the data it was written from); other methods/targets run live."""
        from .stored import from_store

        return from_store(path, models, classes, features, dataset, **kwargs)

    @classmethod
    def from_attributions(cls, attributions: Mapping[int, Any], method: str, models: Any,
                          classes: Sequence[str], features: Any, dataset: Iterable[Batch],
                          **kwargs: Any) -> AttributionVisualizer:
        """Show attributions computed elsewhere (``{position: tensor}``, made with the engine
        class ``method``) for the examples of ``dataset``; other methods/targets run live."""
        from .stored import from_attributions

        return from_attributions(attributions, method, models, classes, features, dataset,
                                 **kwargs)

    # -- the UI ------------------------------------------------------------------------------------
    def spec(self) -> Dict[str, Any]:
        """Everything the front end needs to build its controls (JSON)."""
        return {
            "classes": list(self.classes),
            "models": [type(m).__name__ for m in self.models],
            "features": [{"name": f.name, "type": f.visualization_type(),
                          "baselines": f.baseline_names()} for f in self.features],
            "methods": [spec.schema() for spec in self.methods],
            "layers": [{"choices": names, "default": default} for names, default in
                       zip(self._runner.layer_names, self._runner.default_layers)],
            "use_label_for_attr": self.use_label_for_attr,
            "predictions": list(PREDICTIONS),
            "max_examples": MAX_EXAMPLES,
        }

    # -- Captum Insights compatibility ---------------------------------------------------------
