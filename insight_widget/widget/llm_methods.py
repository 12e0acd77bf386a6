"""The methods and options of the generation view (:class:`LLMAttributionVisualizer`).

Each method is a :class:`~insight_widget.widget.registry.MethodSpec` (the same argument
schemas and parsing as the classifier visualiser's forms), run inside Captum 0.9's LLM
wrappers: the perturbation family inside ``LLMAttribution``, the gradient family inside
``LLMGradientAttribution`` on the model's input embedding layer. Every argument has the role
"attribute" (a keyword of the wrapper's ``attribute``).
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

from .registry import RULE, Argument, MethodSpec, _n_steps, _samples

#: runs averaged by LLMAttribution (useful with sampled baselines or orders)
TRIALS = Argument("num_trials", "int", 1, minimum=1, maximum=100,
                  help="runs averaged (baselines with alternatives are drawn per run)")
#: family of the methods run by LLMAttribution / LLMGradientAttribution
PERTURBATION = "perturbation (LLMAttribution)"
GRADIENT = "gradient (LLMGradientAttribution)"

LLM_METHODS: Tuple[MethodSpec, ...] = (
    MethodSpec("Feature Ablation", "FeatureAblation", PERTURBATION, (TRIALS,), gradients=False,
               help="each feature replaced by the baseline, one at a time"),
    MethodSpec("Shapley Value Sampling", "ShapleyValueSampling", PERTURBATION,
               (_samples(10, 1000), TRIALS), gradients=False,
               help="Shapley values estimated from n_samples random feature orders"),
    MethodSpec("Lime", "Lime", PERTURBATION, (_samples(50, 10000), TRIALS), gradients=False,
               help="a linear surrogate fitted to random perturbations (sequence only)"),
    MethodSpec("Kernel Shap", "KernelShap", PERTURBATION, (_samples(50, 10000), TRIALS),
               gradients=False, help="Shapley kernel surrogate (sequence only)"),
    MethodSpec("Layer Integrated Gradients", "LayerIntegratedGradients", GRADIENT,
               (_n_steps(25), RULE), help="path integral on the token embeddings"),
    MethodSpec("Layer Gradient X Activation", "LayerGradientXActivation", GRADIENT,
               help="embedding x gradient of each target token's log-probability"),
)

GRANULARITIES = ("tokens", "words", "segments")
BASELINES = ("pad", "unk", "text")
ATTR_TARGETS = ("log_prob", "prob")
#: generation and chunking bounds (the UI's number fields)
MAX_NEW_TOKENS = Argument("max_new_tokens", "int", 8, minimum=1, maximum=256,
                          help="tokens generated greedily")
ROWS_PER_CHUNK = Argument(
    "rows_per_chunk", "int", 0, minimum=0, maximum=256,
    help="target tokens attributed per engine call, sent as each call ends; 0 = all in one "
         "call (fastest: a chunk re-runs the model over the target tokens before it)")


def is_gradient(spec: MethodSpec) -> bool:
    return spec.family == GRADIENT


def options_schema() -> Dict[str, Any]:
    """The view's own choices (JSON for the front end)."""
    return {"granularities": list(GRANULARITIES), "baselines": list(BASELINES),
            "attr_targets": list(ATTR_TARGETS), "max_new_tokens": MAX_NEW_TOKENS.schema(),
            "rows_per_chunk": ROWS_PER_CHUNK.schema()}
