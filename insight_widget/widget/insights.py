"""Captum Insights' Python methods of ``AttributionVisualizer`` (``visualizer.py``).

Insights (retired in Captum 0.9) let a notebook drive the visualiser without a browser:
``_update_config`` sets the method, its arguments and the filters; ``visualize`` fetches and
attributes synchronously; ``_calculate_attribution_from_cache`` re-attributes a fetched example
for another target; ``get_insights_config`` is the front end's init payload. They live here so
the visualiser's own module holds only what the widget uses.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import Tensor

from .attribution import PreparedExample, Settings
from .features import FeatureOutput, TextFeature
from .interface import Selection

VisualizationOutput = namedtuple("VisualizationOutput",
                                 "feature_outputs actual predicted active_index model_index")
OutputScore = namedtuple("OutputScore", "score index label")


class InsightsMethods:
    """Mixed into ``AttributionVisualizer``; uses its ``classes``, ``features``, ``models``,
    ``methods``, ``selection``, ``fetch``, ``example``, ``make_settings``, ``attribute`` and
    ``class_name``."""

    def get_insights_config(self) -> Dict[str, Any]:
        """Insights' init payload: classes, methods, their argument schemas, the selection."""
        return {"classes": list(self.classes), "methods": [m.name for m in self.methods],
                "method_arguments": {m.name: {a.name: a.schema() for a in m.arguments}
                                     for m in self.methods},
                "selected_method": self.selection.method}

    def _update_config(self, settings: Dict[str, Any]) -> None:
        """Insights' settings dict: attribution_method, arguments, prediction, classes."""
        chosen = self.make_settings(settings.get("attribution_method", self.selection.method),
                                    settings.get("arguments"))
        self.selection = Selection(chosen.method.name, chosen.arguments,
                                   settings.get("prediction", "all"),
                                   list(settings.get("classes", [])),
                                   int(settings.get("num_examples", 4)))

    def visualize(self) -> List[List[VisualizationOutput]]:
        """Fetch with the current config and attribute synchronously (one list per example,
        one VisualizationOutput per model); stops at the end of the dataset, never loops."""
        chosen = self.selection
        fetched = self.fetch(chosen.num_examples, chosen.prediction, chosen.classes)
        settings = self.make_settings(chosen.method, chosen.arguments)
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
        settings = self.make_settings(self.selection.method, self.selection.arguments)
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
