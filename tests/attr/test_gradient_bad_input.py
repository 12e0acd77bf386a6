"""Bad input to the gradient family: each error is a ValueError/TypeError naming the argument,
and hook-based methods leave the model without hooks afterwards."""

import pytest
import torch
from torch import nn

from insight_widget.attr import (
    Deconvolution,
    DeepLift,
    DeepLiftShap,
    GradientShap,
    GuidedBackprop,
    IntegratedGradients,
    NoiseTunnel,
    Saliency,
)


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))


X = torch.randn(3, 4)


def deeplift(**kwargs):
    return lambda: DeepLift(model()).attribute(X, **kwargs)


CASES = {
    # DeepLift
    "deeplift-baseline-shape": (deeplift(baselines=torch.zeros(2, 4)), ValueError, "`baselines`"),
    "deeplift-baseline-type": (deeplift(baselines="zeros"), TypeError, "`baselines`"),
    "deeplift-target-range": (deeplift(target=7), ValueError, "`target` index 7"),
    "deeplift-target-form": (deeplift(target=1.5), TypeError, "`target`"),
    "deeplift-target-length": (deeplift(target=[0, 1]), ValueError, "`target`"),
    "deeplift-target-tensor-dtype": (deeplift(target=torch.tensor([0.0, 1.0, 2.0])), TypeError,
                                     "`target`"),
    "deeplift-integer-inputs": (lambda: DeepLift(model()).attribute(torch.ones(3, 4,
                                dtype=torch.long), target=0), TypeError, "`inputs`"),
    "deeplift-non-module": (lambda: DeepLift(lambda x: x), TypeError, "`model`"),
    "deeplift-eps": (lambda: DeepLift(model(), eps=-1.0), ValueError, "`eps`"),
    "deeplift-multiply-flag": (lambda: DeepLift(model(), multiply_by_inputs="yes"), TypeError,
                               "`multiply_by_inputs`"),
    "deeplift-delta-flag": (deeplift(target=0, return_convergence_delta=1), TypeError,
                            "`return_convergence_delta`"),
    "deeplift-custom-returns-list": (deeplift(target=0, custom_attribution_func=lambda m: list(m)),
                                     TypeError, "`custom_attribution_func`"),
    "deeplift-custom-arity": (deeplift(target=0, custom_attribution_func=lambda a, b, c, d: a),
                              ValueError, "`custom_attribution_func`"),
    "deeplift-custom-not-callable": (deeplift(target=0, custom_attribution_func=3), TypeError,
                                     "`custom_attribution_func`"),
    # DeepLiftShap
    "dlshap-one-reference": (lambda: DeepLiftShap(model()).attribute(X, torch.zeros(1, 4),
                             target=0), ValueError, "`baselines`"),
    "dlshap-no-reference": (lambda: DeepLiftShap(model()).attribute(X, None, target=0),
                            ValueError, "`baselines`"),
    "dlshap-reference-shape": (lambda: DeepLiftShap(model()).attribute(X, torch.zeros(4, 5),
                               target=0), ValueError, "`baselines`"),
    # GradientShap
    "gshap-n-samples": (lambda: GradientShap(model()).attribute(X, torch.zeros(2, 4), n_samples=0,
                        target=0), ValueError, "`n_samples`"),
    "gshap-stdevs-negative": (lambda: GradientShap(model()).attribute(X, torch.zeros(2, 4),
                              stdevs=-0.1, target=0), ValueError, "`stdevs`"),
    "gshap-stdevs-length": (lambda: GradientShap(model()).attribute(X, torch.zeros(2, 4),
                            stdevs=(0.1, 0.2), target=0), ValueError, "`stdevs`"),
    "gshap-stdevs-type": (lambda: GradientShap(model()).attribute(X, torch.zeros(2, 4),
                          stdevs="big", target=0), TypeError, "`stdevs`"),
    "gshap-internal-batch-size": (lambda: GradientShap(model()).attribute(
        X, torch.zeros(2, 4), target=0, internal_batch_size=0), ValueError,
        "`internal_batch_size`"),
    "gshap-reference-shape": (lambda: GradientShap(model()).attribute(X, torch.zeros(2, 3),
                              target=0), ValueError, "`baselines`"),
    "gshap-callable-returns-junk": (lambda: GradientShap(model()).attribute(X, lambda: "junk",
                                    target=0), TypeError, "`baselines`"),
    # IntegratedGradients
    "ig-method": (lambda: IntegratedGradients(model()).attribute(X, target=0, method="simpson"),
                  ValueError, "`method`"),
    "ig-internal-batch-size": (lambda: IntegratedGradients(model()).attribute(
        X, target=0, internal_batch_size=0), ValueError, "`internal_batch_size`"),
    "ig-n-steps": (lambda: IntegratedGradients(model()).attribute(X, target=0, n_steps=0),
                   ValueError, "`n_steps`"),
    # GuidedBackprop / Deconvolution
    "guided-non-module": (lambda: GuidedBackprop(lambda x: x), TypeError, "`model`"),
    "deconvolution-non-module": (lambda: Deconvolution(print), TypeError, "`model`"),
    "guided-target-range": (lambda: GuidedBackprop(model()).attribute(X, target=-4), ValueError,
                            "`target` index -4"),
    # NoiseTunnel
    "nt-type": (lambda: NoiseTunnel(Saliency(model())).attribute(X, nt_type="smooth", target=0),
                ValueError, "`nt_type`"),
    "nt-samples": (lambda: NoiseTunnel(Saliency(model())).attribute(X, nt_samples=0, target=0),
                   ValueError, "`nt_samples`"),
    "nt-samples-batch-size": (lambda: NoiseTunnel(Saliency(model())).attribute(
        X, nt_samples_batch_size=0, target=0), ValueError, "`nt_samples_batch_size`"),
    "nt-stdevs-length": (lambda: NoiseTunnel(Saliency(model())).attribute(
        X, stdevs=(1.0, 2.0), target=0), ValueError, "`stdevs`"),
    "nt-stdevs-negative": (lambda: NoiseTunnel(Saliency(model())).attribute(
        X, stdevs=-1.0, target=0), ValueError, "`stdevs`"),
    "nt-not-an-attribution": (lambda: NoiseTunnel(model()), TypeError, "`attribution_method`"),
    "nt-delta-unsupported": (lambda: NoiseTunnel(Saliency(model())).attribute(
        X, target=0, return_convergence_delta=True), ValueError, "`return_convergence_delta"),
    "nt-draw-without-baselines": (lambda: NoiseTunnel(IntegratedGradients(model())).attribute(
        X, target=0, draw_baseline_from_distrib=True), ValueError,
        "`draw_baseline_from_distrib"),
    "nt-target-length": (lambda: NoiseTunnel(Saliency(model())).attribute(X, target=[0, 1]),
                         ValueError, "`target`"),
    "nt-wrapped-method-argument": (lambda: NoiseTunnel(IntegratedGradients(model())).attribute(
        X, target=0, method="simpson"), ValueError, "`method`"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_raises_an_error_naming_the_argument(case):
    call, error, fragment = CASES[case]
    with pytest.raises(error) as raised:
        call()
    assert fragment in str(raised.value)


@pytest.mark.parametrize("make", [DeepLift, GuidedBackprop, Deconvolution,
                                  lambda m: NoiseTunnel(DeepLift(m))])
def test_errors_inside_the_hooked_forward_leave_no_hooks(make):
    net = model()
    with torch.no_grad():
        before = net(X)
    with pytest.raises(ValueError, match="`target`"):
        make(net).attribute(X, target=9)
    assert all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
               for m in net.modules())
    with torch.no_grad():
        torch.testing.assert_close(net(X), before)
