"""Every layer, neuron, LRP and embedding class has Captum 0.9.0's constructor and attribute()
parameters (names, kinds, defaults) and its place in the class hierarchy."""

import inspect

import captum.attr as captum_attr
import pytest
from captum.attr._utils import lrp_rules as captum_rules
from torch import nn

import insight_widget.attr as ours_attr

CLASSES = [
    "LayerActivation", "LayerGradientXActivation", "LayerGradCam", "InternalInfluence",
    "LayerConductance", "LayerIntegratedGradients", "LayerDeepLift", "LayerDeepLiftShap",
    "LayerGradientShap", "LayerLRP", "LayerFeatureAblation", "LayerFeaturePermutation",
    "NeuronGradient", "NeuronIntegratedGradients", "NeuronConductance", "NeuronDeepLift",
    "NeuronDeepLiftShap", "NeuronGradientShap", "NeuronGuidedBackprop", "NeuronDeconvolution",
    "NeuronFeatureAblation", "GuidedGradCam", "LRP",
]
BASES = ["LayerAttribution", "NeuronAttribution", "GradientAttribution",
         "PerturbationAttribution", "DeepLift", "DeepLiftShap", "FeaturePermutation", "LRP"]
RULES = ["PropagationRule", "EpsilonRule", "GammaRule", "Alpha1_Beta0_Rule", "IdentityRule"]


def parameters(function):
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


# Anytime Integrated Gradients (n_steps="auto") adds two keyword-only arguments after Captum's.
ANYTIME = [("delta_tolerance", inspect.Parameter.KEYWORD_ONLY, 0.01),
           ("step_budget", inspect.Parameter.KEYWORD_ONLY, 256)]


def captum_parameters(name, function):
    extra = ANYTIME if name.endswith("IntegratedGradients") else []
    return parameters(function) + extra


@pytest.mark.parametrize("name", CLASSES)
def test_constructor_and_attribute_signatures_match_captum(name):
    ours, theirs = getattr(ours_attr, name), getattr(captum_attr, name)
    assert parameters(ours.__init__) == parameters(theirs.__init__)
    assert parameters(ours.attribute) == captum_parameters(name, theirs.attribute)
    ours_bases = {b.__name__ for b in ours.__mro__} & set(BASES)
    theirs_bases = {b.__name__ for b in theirs.__mro__} & set(BASES)
    assert ours_bases == theirs_bases


def test_embedding_helpers_and_rules_have_captums_signatures():
    for name in ("configure_interpretable_embedding_layer",
                 "remove_interpretable_embedding_layer"):
        assert parameters(getattr(ours_attr, name)) == parameters(getattr(captum_attr, name))
    for cls, methods in (("InterpretableEmbeddingBase",
                          ("__init__", "forward", "indices_to_embeddings")),
                         ("TokenReferenceBase", ("__init__", "generate_reference"))):
        for method in methods:
            assert parameters(getattr(getattr(ours_attr, cls), method)) == parameters(
                getattr(getattr(captum_attr, cls), method))
    for name in RULES[1:]:
        assert parameters(getattr(ours_attr, name).__init__) == parameters(
            getattr(captum_rules, name).__init__)
        assert issubclass(getattr(ours_attr, name), ours_attr.PropagationRule)
    stability = captum_rules.PropagationRule.STABILITY_FACTOR
    assert stability == ours_attr.PropagationRule.STABILITY_FACTOR
    assert issubclass(ours_attr.IdentityRule, ours_attr.EpsilonRule)


@pytest.mark.parametrize("name", CLASSES)
def test_names_deltas_and_input_multiplication_match_captum(name):
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
    instances = [getattr(library, name)(model) if name == "LRP"
                 else getattr(library, name)(model, model[0])
                 for library in (ours_attr, captum_attr)]
    ours, theirs = instances
    assert ours.get_name() == theirs.get_name()
    assert ours.has_convergence_delta() == theirs.has_convergence_delta()
    assert ours.multiplies_by_inputs == theirs.multiplies_by_inputs
