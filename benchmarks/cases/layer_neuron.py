"""Layer and neuron family (and LRP): ours vs captum on the shared workloads."""

from __future__ import annotations

from functools import cache
from typing import Any, Callable, Dict, List, Optional

import captum.attr as captum_attr
import numpy as np
import torch
from captum.attr._utils import lrp_rules as captum_rules
from torch import nn

import insight_widget.attr as ours_attr
from insight_widget.testing import token_batch

from ..harness import Case
from ..workloads import Workload, conv, mlp, text

FAMILY = "layer_neuron"


def _layer(workload: Workload) -> nn.Module:
    """A layer in the middle of each workload's model."""
    model = workload.model
    if hasattr(model, "block2"):
        return model.block2                 # residual block: (N, 16, 16, 16)
    if hasattr(model, "relu1") and hasattr(model, "bn1"):
        return model.relu1                  # MLP hidden layer: (N, 32)
    return model.model.conv                 # text model's Conv1d: (N, 24, L)


NEURONS = {"resnet": (3, 4, 4), "mlp": 5, "text": (2, 3)}


def _neuron(workload: Workload) -> Any:
    return next(v for k, v in NEURONS.items() if workload.name.startswith(k))


def pair(algorithm: str, workload: Workload, layer: nn.Module, label: str = "",
         construct: Optional[Dict[str, Any]] = None, use_target: bool = True,
         before: Optional[Callable[[Any], None]] = None, **kwargs: Any) -> Case:
    """A case running ``algorithm(forward_func, layer)`` from both libraries with ``kwargs``.

    ``before(library)`` runs before each call of either side (e.g. to assign LRP rules, which
    Captum deletes after every call)."""
    construct = construct or {}
    ours = getattr(ours_attr, algorithm)(workload.forward_func, layer, **construct)
    theirs = getattr(captum_attr, algorithm)(workload.forward_func, layer, **construct)
    call = dict(additional_forward_args=workload.additional_forward_args, **kwargs)
    if use_target:
        call["target"] = workload.target

    def run(algorithm_object: Any, library: Any) -> Callable[[], Any]:
        def go() -> Any:
            if before is not None:
                before(library)
            return algorithm_object.attribute(workload.inputs, **call)
        return go

    name = f"{algorithm}{('[' + label + ']') if label else ''} {workload.name}"
    return Case(name, FAMILY, run(ours, ours_attr), run(theirs, captum_attr))


@cache
def token_workload(batch: int = 8) -> Workload:
    """The text classifier on token ids (the mask as an additional argument)."""
    embedded = text(batch)
    ids, mask = token_batch(batch)
    return Workload(f"text-idsN{batch}", embedded.model.model, ids, embedded.target, (mask,))


def _seed(_library: Any) -> None:
    # GradientShap draws noise (torch) and references/coefficients (NumPy): same seeds.
    torch.manual_seed(0)
    np.random.seed(0)


def _mlp_lrp_rules(library: Any) -> None:
    # BatchNorm1d has no default LRP rule in Captum: give it the epsilon rule on both sides.
    rules = ours_attr if library is ours_attr else captum_rules
    mlp().model.bn1.rule = rules.EpsilonRule()


def cases() -> List[Case]:
    result: List[Case] = []
    for workload in (conv(), mlp(), text()):
        layer = _layer(workload)
        steps = {"n_steps": 16} if workload.name.startswith("resnet") else {}
        neuron = _neuron(workload)
        result += [
            pair("LayerActivation", workload, layer, use_target=False),
            pair("LayerGradientXActivation", workload, layer),
            pair("LayerGradCam", workload, layer),
            pair("InternalInfluence", workload, layer, **steps),
            pair("LayerConductance", workload, layer, **steps),
            pair("LayerIntegratedGradients", workload, layer, **steps),
            pair("NeuronGradient", workload, layer, use_target=False, neuron_selector=neuron),
            pair("NeuronIntegratedGradients", workload, layer, use_target=False,
                 neuron_selector=neuron, **steps),
            pair("NeuronConductance", workload, layer, neuron_selector=neuron, **steps),
        ]
    image = conv()
    references = image.inputs.flip(0)[:4]
    result += [
        pair("LayerDeepLift", image, image.model.block2),
        pair("LayerDeepLiftShap", image, image.model.block2, baselines=references),
        pair("LayerGradientShap", image, image.model.block2, label="seeded",
             before=_seed, baselines=references),
        pair("NeuronDeepLift", image, image.model.block2, use_target=False,
             neuron_selector=_neuron(image)),
        pair("NeuronDeepLiftShap", image, image.model.block2, use_target=False,
             neuron_selector=_neuron(image), baselines=references),
        pair("NeuronGradientShap", image, image.model.block2, label="seeded", before=_seed,
             use_target=False, neuron_selector=_neuron(image), baselines=references),
        pair("NeuronGuidedBackprop", image, image.model.block2, use_target=False,
             neuron_selector=_neuron(image)),
        pair("NeuronDeconvolution", image, image.model.block2, use_target=False,
             neuron_selector=_neuron(image)),
        pair("GuidedGradCam", image, image.model.block2.conv2),
    ]
    small = mlp()
    result += [
        pair("LayerConductance", small, small.model.relu1, label="delta",
             return_convergence_delta=True),
        pair("LayerConductance", small, small.model.relu1, label="ibs=64",
             internal_batch_size=64),
        pair("LayerIntegratedGradients", small, small.model.relu1, label="delta",
             return_convergence_delta=True),
        pair("LayerFeatureAblation", small, small.model.relu1),
        pair("NeuronFeatureAblation", small, small.model.relu1, use_target=False,
             neuron_selector=5),
        pair("LayerLRP", small, small.model.fc2, before=_mlp_lrp_rules),
        Case(f"LRP {small.name}", FAMILY,
             _lrp(ours_attr.LRP(small.model), small), _lrp(captum_attr.LRP(small.model), small,
                                                           captum_rules)),
    ]
    channel_groups = torch.arange(16).view(1, 16, 1, 1) // 4
    result.append(pair("LayerFeatureAblation", image, image.model.block2, label="4 groups",
                       layer_mask=channel_groups))
    tokens = token_workload()
    result += [
        pair("LayerIntegratedGradients", tokens, tokens.model.embedding, label="embedding"),
        pair("LayerIntegratedGradients", tokens, tokens.model.embedding,
             label="embedding+delta", return_convergence_delta=True),
    ]
    return result


def _lrp(algorithm: Any, workload: Workload, rules: Any = ours_attr) -> Callable[[], Any]:
    def go() -> Any:
        workload.model.bn1.rule = rules.EpsilonRule()
        return algorithm.attribute(workload.inputs, target=workload.target)
    return go
