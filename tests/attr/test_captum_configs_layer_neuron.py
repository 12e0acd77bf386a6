"""Captum's argument configurations for the layer, neuron and LRP families, compared with
captum 0.9.0 (rtol 1e-5, atol 1e-6; deltas relative to the attribution sums). Random draws
(GradientShap variants) use the same torch and NumPy seeds on both sides."""

import captum.attr as captum_attr
import numpy as np
import pytest
import torch

import insight_widget.attr as ours_attr

from .captum_oracle import assert_same, assert_same_delta, config_cases, run

LAYER = ["LayerActivation", "LayerGradientXActivation", "LayerGradCam", "InternalInfluence",
         "LayerConductance", "LayerIntegratedGradients", "LayerLRP", "LayerFeatureAblation",
         "LayerDeepLift", "LayerDeepLiftShap", "LayerGradientShap", "GuidedGradCam"]
NEURON = ["NeuronGradient", "NeuronIntegratedGradients", "NeuronConductance",
          "NeuronFeatureAblation", "NeuronDeepLift", "NeuronDeepLiftShap", "NeuronGradientShap",
          "NeuronGuidedBackprop", "NeuronDeconvolution"]
# Captum needs ~10 s for this one (100 single-copy forward passes); the same model and selector
# run batched in conv_neuron_with_perturbations_per_eval, and unbatched in the conv-net tests of
# test_layer_perturbation.py.
SLOW = {"conv_neuron-NeuronFeatureAblation"}
WITH_DELTA = ["LayerConductance", "LayerIntegratedGradients", "LRP", "LayerLRP",
              "LayerDeepLift", "LayerDeepLiftShap", "LayerGradientShap"]


def seeded_pair(config, name, **overrides):
    results = []
    for library in (ours_attr, captum_attr):
        np.random.seed(7)
        results.append(run(library, config, name, seed=7, **overrides))
    return results


def _flat(value):
    if isinstance(value, torch.Tensor):
        return [value]
    return [t for v in value for t in _flat(v)]


@pytest.mark.parametrize(("config", "name"), [c for c in config_cases(LAYER + NEURON + ["LRP"])
                                              if c.id not in SLOW])
def test_layer_and_neuron_methods_match_captum_on_its_configurations(config, name):
    ours, theirs = seeded_pair(config, name)
    assert_same(ours, theirs)


@pytest.mark.parametrize(("config", "name"), config_cases(WITH_DELTA))
def test_convergence_deltas_match_captum_on_its_configurations(config, name):
    ours, theirs = seeded_pair(config, name, return_convergence_delta=True)
    if isinstance(theirs[0], list):
        # Several layers: one delta for all of them (LayerIntegratedGradients) or one per
        # layer (LayerLRP); compare attributions exactly and deltas relative to the sums.
        assert_same(ours[0], theirs[0])
        scale = sum(t.detach().abs().reshape(t.shape[0], -1).sum(1) for t in _flat(theirs[0]))
        for mine, reference in zip(_flat(ours[1]), _flat(theirs[1])):
            assert torch.allclose(mine, reference.detach(), atol=1e-6 + 1e-5 * float(scale.max()))
        return
    assert_same_delta(ours, theirs)
