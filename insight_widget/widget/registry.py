"""The attribution methods the visualiser offers, each with the argument schema that drives
its form in the UI.

An entry names its engine class (resolved lazily from ``insight_widget.attr``, so the registry
imports nothing heavy and an engine family that is missing only hides its methods) and
describes every argument the UI shows: its kind, default, range and how it reaches the call
(constructor, ``attribute`` keyword, or a per-feature layout such as a feature mask).

Methods that need a batch of examples to mean anything (FeaturePermutation,
LayerFeaturePermutation: they permute values *across* examples) are not offered, because the
visualiser explains one example at a time; the LLM wrappers need a tokenizer and generation,
which is outside what a classifier visualiser shows.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..attr.core import describe

QUADRATURE_RULES = ["gausslegendre", "riemann_left", "riemann_right", "riemann_middle",
                    "riemann_trapezoid"]
MASK_MODES = ["patches", "groups", "scalars"]


@dataclass(frozen=True)
class Argument:
    """One form field.

    kind: "int", "float", "enum", "bool", "layer" (a module of the model, one choice per
    model) or "neuron" (flat index into the chosen layer's output).
    role: where the parsed value goes: "attribute" (``attribute(name=value)``), "init"
    (constructor keyword), "layer", "neuron" (``neuron_selector``), "window"/"strides"
    (Occlusion's shapes, built per feature), "mask"/"patch" (feature masks, built per
    feature), "base" (the method NoiseTunnel wraps).
    """

    name: str
    kind: str
    default: Any
    label: str = ""
    help: str = ""
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    choices: Tuple[str, ...] = ()
    optional: bool = False
    role: str = "attribute"

    def schema(self) -> Dict[str, Any]:
        """JSON description for the front end."""
        out: Dict[str, Any] = {"name": self.name, "kind": self.kind, "default": self.default,
                               "label": self.label or self.name.replace("_", " "),
                               "help": self.help, "optional": self.optional}
        if self.minimum is not None:
            out["min"] = self.minimum
        if self.maximum is not None:
            out["max"] = self.maximum
        if self.choices:
            out["choices"] = list(self.choices)
        return out

    def parse(self, value: Any) -> Any:
        """Validate a value sent by the UI (or a Python caller); raise naming the argument."""
        if value is None or value == "":
            if self.optional:
                return None
            value = self.default
        if self.kind in ("int", "neuron"):
            try:
                number = int(value) if not isinstance(value, bool) else None
            except (TypeError, ValueError):
                number = None
            if number is None or (isinstance(value, float) and not value.is_integer()):
                raise TypeError(f"`{self.name}` must be an integer; got {describe(value)}.")
            self._check_range(number)
            return number
        if self.kind == "float":
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise TypeError(f"`{self.name}` must be a number; got {describe(value)}.") from None
            self._check_range(number)
            return number
        if self.kind == "bool":
            if isinstance(value, str):
                value = value.lower() in ("true", "1", "yes", "on")
            return bool(value)
        if self.kind == "enum":
            if value not in self.choices:
                raise ValueError(f"`{self.name}` must be one of {list(self.choices)}; "
                                 f"got {value!r}.")
            return value
        if self.kind == "layer":
            values = list(value) if isinstance(value, (list, tuple)) else [value]
            return [str(v) if v is not None else None for v in values]
        raise ValueError(f"unknown argument kind {self.kind!r} for `{self.name}`.")

    def _check_range(self, number: float) -> None:
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"`{self.name}` must be >= {self.minimum:g}; got {number:g}.")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"`{self.name}` must be <= {self.maximum:g}; got {number:g}.")


@dataclass(frozen=True)
class MethodSpec:
    """One registered method.

    output: "input" (attribution per input feature) or "layer" (per neuron of a layer).
    baselines: "single" (one reference per input), "distribution" (several references, SHAP
    methods), or "none".
    gradients: needs floating model inputs (gradient-based on the inputs).
    hooks: needs the model to be an ``nn.Module`` (module hooks / rules).
    target: takes a class target (neuron methods and LayerActivation do not).
    delta: ``attribute`` can return a convergence delta (``return_convergence_delta=True``).
    max_groups: exact methods whose cost grows factorially in the feature-group count refuse
        more groups than this, and name ``alternative`` instead.

    Together with the arguments' roles these fields are everything the visualiser needs to
    build the engine call (``attribution.build_call``); ``tests/widget/test_registry.py``
    checks them against each engine class's signature.
    """

    name: str
    class_name: str
    family: str
    arguments: Tuple[Argument, ...] = ()
    output: str = "input"
    baselines: str = "single"
    gradients: bool = True
    hooks: bool = False
    target: bool = True
    delta: bool = False
    max_groups: Optional[int] = None
    alternative: str = ""
    aliases: Tuple[str, ...] = ()
    help: str = ""

    def resolve(self) -> Optional[type]:
        """The engine class, or None when its family is not in this build."""
        module = importlib.import_module("insight_widget.attr")
        return getattr(module, self.class_name, None)

    def engine(self) -> type:
        """The engine class; ``ValueError`` when it is not in this build."""
        cls = self.resolve()
        if cls is None:
            raise ValueError(f"{self.class_name} is not available in insight_widget.attr.")
        return cls

    @property
    def needs_layer(self) -> bool:
        return any(a.role == "layer" for a in self.arguments)

    def wrapped(self, arguments: Dict[str, Any]) -> Optional[MethodSpec]:
        """The method a wrapper (NoiseTunnel: its argument of role "base") runs, else None."""
        for argument in self.arguments:
            if argument.role == "base":
                return find_method(arguments[argument.name])
        return None

    def argument(self, name: str) -> Argument:
        for argument in self.arguments:
            if argument.name == name:
                return argument
        raise KeyError(name)

    def defaults(self) -> Dict[str, Any]:
        return {a.name: a.default for a in self.arguments}

    def parse_arguments(self, values: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        """Defaults overlaid with ``values``, each validated; unknown names are an error."""
        values = dict(values or {})
        known = {a.name for a in self.arguments}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{self.name} has no argument(s) {unknown}; its arguments are "
                             f"{sorted(known)}.")
        return {a.name: a.parse(values.get(a.name, a.default)) for a in self.arguments}

    def schema(self) -> Dict[str, Any]:
        """JSON description for the front end."""
        return {"name": self.name, "family": self.family, "output": self.output,
                "target": self.target, "baselines": self.baselines, "help": self.help,
                "has_delta": self.delta, "arguments": [a.schema() for a in self.arguments]}


# ---- argument building blocks (one definition each) ------------------------------------------
def _n_steps(default: int = 25) -> Argument:
    return Argument("n_steps", "int", default, minimum=2, maximum=1000,
                    help="quadrature nodes along the path (model runs n_steps times)")


RULE = Argument("method", "enum", "gausslegendre", choices=tuple(QUADRATURE_RULES),
                label="integration rule")
BATCH = Argument("internal_batch_size", "int", None, minimum=1, optional=True,
                 help="rows per forward/backward pass; empty = memory budget")
MULTIPLY = Argument("multiply_by_inputs", "bool", True, role="init",
                    help="global attribution (x - baseline) x gradient; off = local")
PER_EVAL = Argument("perturbations_per_eval", "int", 16, minimum=1, maximum=1024,
                    help="perturbed copies evaluated per forward pass")
MASK = Argument("feature_mask", "enum", "patches", choices=tuple(MASK_MODES), role="mask",
                help="groups perturbed together: patches of units, single units "
                     "(pixel/token/column/step), or every scalar")
LAYER = Argument("layer", "layer", None, role="layer", help="module the method looks inside")
TO_LAYER_INPUT = Argument("attribute_to_layer_input", "bool", False,
                          help="attribute to the layer's input instead of its output")
NEURON = Argument("neuron", "neuron", 0, minimum=0, role="neuron",
                  help="index of the neuron in the layer output (flattened)")


def _patch(default: int) -> Argument:
    return Argument("patch_size", "int", default, minimum=1, maximum=4096, role="patch",
                    help="units per patch for feature_mask=patches")


def _samples(default: int, maximum: int = 100000) -> Argument:
    return Argument("n_samples", "int", default, minimum=1, maximum=maximum)


def _stdevs(default: float) -> Argument:
    return Argument("stdevs", "float", default, minimum=0.0,
                    help="standard deviation of the Gaussian noise added to inputs")


_IG_ARGS = (_n_steps(), RULE, BATCH)
_NT_BASES = ("Saliency", "Integrated Gradients", "Input X Gradient", "Deep Lift",
             "Guided Backprop", "Deconvolution", "Gradient Shap")

METHODS: Tuple[MethodSpec, ...] = (
    # gradient family ---------------------------------------------------------------------
    MethodSpec("Integrated Gradients", "IntegratedGradients", "gradient",
               (*_IG_ARGS, MULTIPLY), delta=True),
    MethodSpec("Saliency", "Saliency", "gradient",
               (Argument("abs", "bool", True, help="absolute value of the gradient"),),
               baselines="none"),
    MethodSpec("Input X Gradient", "InputXGradient", "gradient", baselines="none"),
    MethodSpec("Deep Lift", "DeepLift", "gradient", (MULTIPLY,), hooks=True, delta=True),
    MethodSpec("Deep Lift Shap", "DeepLiftShap", "gradient", (MULTIPLY,), hooks=True,
               baselines="distribution", delta=True),
    MethodSpec("Gradient Shap", "GradientShap", "gradient",
               (_samples(20, 2000), _stdevs(0.1), MULTIPLY), baselines="distribution", delta=True),
    MethodSpec("Guided Backprop", "GuidedBackprop", "gradient", hooks=True, baselines="none"),
    MethodSpec("Deconvolution", "Deconvolution", "gradient", hooks=True, baselines="none"),
    MethodSpec("Noise Tunnel", "NoiseTunnel", "gradient",
               (Argument("base_method", "enum", "Saliency", choices=_NT_BASES, role="base",
                         help="attribution method averaged over noisy inputs"),
                Argument("nt_type", "enum", "smoothgrad",
                         choices=("smoothgrad", "smoothgrad_sq", "vargrad")),
                Argument("nt_samples", "int", 10, minimum=1, maximum=1000),
                Argument("nt_samples_batch_size", "int", None, minimum=1, optional=True),
                _stdevs(0.1)),
               aliases=("SmoothGrad",)),
    MethodSpec("LRP", "LRP", "gradient", hooks=True, baselines="none",
               delta=True, aliases=("L R P",),
               help="layer-wise relevance propagation (default rules)"),
    # perturbation family ------------------------------------------------------------------
    MethodSpec("Feature Ablation", "FeatureAblation", "perturbation",
               (MASK, _patch(4), PER_EVAL), gradients=False),
    MethodSpec("Occlusion", "Occlusion", "perturbation",
               (Argument("sliding_window", "int", 4, minimum=1, role="window",
                         help="window edge in units (pixels, tokens, steps)"),
                Argument("strides", "int", 2, minimum=1, role="strides"),
                PER_EVAL), gradients=False),
    MethodSpec("Shapley Value Sampling", "ShapleyValueSampling", "perturbation",
               (MASK, _patch(8), _samples(10, 10000), PER_EVAL), gradients=False),
    MethodSpec("Shapley Values", "ShapleyValues", "perturbation",
               (MASK, _patch(16), PER_EVAL), gradients=False, max_groups=10,
               alternative="Shapley Value Sampling",
               help="exact: every permutation of the groups; keep the group count small"),
    MethodSpec("Lime", "Lime", "perturbation",
               (MASK, _patch(4), _samples(100, 100000), PER_EVAL), gradients=False),
    MethodSpec("Kernel Shap", "KernelShap", "perturbation",
               (MASK, _patch(4), _samples(100, 100000), PER_EVAL), gradients=False),
    # layer family ---------------------------------------------------------------------------
    MethodSpec("Layer Grad Cam", "LayerGradCam", "layer",
               (LAYER, Argument("relu_attributions", "bool", True), TO_LAYER_INPUT),
               output="layer", baselines="none", gradients=False, hooks=True,
               aliases=("GradCAM", "Grad-CAM")),
    MethodSpec("Guided Grad Cam", "GuidedGradCam", "layer", (LAYER,), baselines="none",
               hooks=True, aliases=("Guided GradCAM",)),
    MethodSpec("Layer Conductance", "LayerConductance", "layer",
               (LAYER, *_IG_ARGS, TO_LAYER_INPUT), output="layer", hooks=True, delta=True),
    MethodSpec("Layer Integrated Gradients", "LayerIntegratedGradients", "layer",
               (LAYER, *_IG_ARGS, TO_LAYER_INPUT), output="layer", gradients=False,
               hooks=True, delta=True),
    MethodSpec("Internal Influence", "InternalInfluence", "layer",
               (LAYER, *_IG_ARGS, TO_LAYER_INPUT), output="layer", hooks=True),
    MethodSpec("Layer Activation", "LayerActivation", "layer", (LAYER, TO_LAYER_INPUT),
               output="layer", baselines="none", gradients=False, hooks=True, target=False),
    MethodSpec("Layer Gradient X Activation", "LayerGradientXActivation", "layer",
               (LAYER, TO_LAYER_INPUT), output="layer", baselines="none", hooks=True,
               gradients=False),
    MethodSpec("Layer Deep Lift", "LayerDeepLift", "layer", (LAYER, TO_LAYER_INPUT),
               output="layer", hooks=True, delta=True),
    MethodSpec("Layer Deep Lift Shap", "LayerDeepLiftShap", "layer", (LAYER, TO_LAYER_INPUT),
               output="layer", baselines="distribution", hooks=True, delta=True),
    MethodSpec("Layer Gradient Shap", "LayerGradientShap", "layer",
               (LAYER, _samples(20, 2000), _stdevs(0.1), TO_LAYER_INPUT), output="layer",
               baselines="distribution", hooks=True, delta=True),
    MethodSpec("Layer Feature Ablation", "LayerFeatureAblation", "layer",
               (LAYER, PER_EVAL, TO_LAYER_INPUT), output="layer", baselines="none",
               gradients=False, hooks=True),
    MethodSpec("Layer LRP", "LayerLRP", "layer", (LAYER, TO_LAYER_INPUT), output="layer",
               baselines="none", hooks=True, aliases=("Layer L R P",), delta=True),
    # neuron family: what in the input drives one neuron of a layer ---------------------------
    MethodSpec("Neuron Gradient", "NeuronGradient", "neuron", (LAYER, NEURON),
               baselines="none", hooks=True, target=False),
    MethodSpec("Neuron Integrated Gradients", "NeuronIntegratedGradients", "neuron",
               (LAYER, NEURON, *_IG_ARGS), hooks=True, target=False),
    MethodSpec("Neuron Conductance", "NeuronConductance", "neuron",
               (LAYER, NEURON, *_IG_ARGS), hooks=True),
    MethodSpec("Neuron Deep Lift", "NeuronDeepLift", "neuron", (LAYER, NEURON), hooks=True,
               target=False),
    MethodSpec("Neuron Deep Lift Shap", "NeuronDeepLiftShap", "neuron", (LAYER, NEURON),
               baselines="distribution", hooks=True, target=False),
    MethodSpec("Neuron Gradient Shap", "NeuronGradientShap", "neuron",
               (LAYER, NEURON, _samples(20, 2000), _stdevs(0.1)), baselines="distribution",
               hooks=True, target=False),
    MethodSpec("Neuron Guided Backprop", "NeuronGuidedBackprop", "neuron", (LAYER, NEURON),
               baselines="none", hooks=True, target=False),
    MethodSpec("Neuron Deconvolution", "NeuronDeconvolution", "neuron", (LAYER, NEURON),
               baselines="none", hooks=True, target=False),
    MethodSpec("Neuron Feature Ablation", "NeuronFeatureAblation", "neuron",
               (LAYER, NEURON, MASK, _patch(4), PER_EVAL), gradients=False, hooks=True,
               target=False),
)

DEFAULT_METHOD = "Integrated Gradients"
# The visualiser opens with the first of these that applies to its models and features.
DEFAULT_METHODS = (DEFAULT_METHOD, "Layer Integrated Gradients")


def find_method(name: str, methods: Sequence[MethodSpec] = METHODS) -> MethodSpec:
    """The method called ``name`` (its label, an alias, or its engine class name)."""
    for spec in methods:
        if name in (spec.name, spec.class_name, *spec.aliases):
            return spec
    raise ValueError(f"unknown attribution method {name!r}; choose one of "
                     f"{[s.name for s in methods]}.")


@dataclass
class Applicability:
    """Why a method is offered for given models and features (or why not)."""

    method: MethodSpec
    reasons: List[str] = field(default_factory=list)

    @property
    def applies(self) -> bool:
        return not self.reasons


def applicability(spec: MethodSpec, float_inputs: bool, all_modules: bool,
                  has_layers: bool) -> Applicability:
    """Check ``spec`` against the facts about the models and their inputs."""
    result = Applicability(spec)
    if spec.resolve() is None:
        result.reasons.append(f"{spec.class_name} is not in insight_widget.attr")
    if spec.gradients and not float_inputs:
        result.reasons.append("needs floating-point model inputs (e.g. embeddings, not ids)")
    if spec.hooks and not all_modules:
        result.reasons.append("needs the models to be torch.nn.Module")
    if spec.needs_layer and not has_layers:
        result.reasons.append("needs a model with sub-modules to choose a layer from")
    return result
