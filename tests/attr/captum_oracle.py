"""Differential testing against captum 0.9.0 (a test-only oracle).

Two sources of cases:

* Captum's own argument configurations (``captum.testing.attr.helpers.test_config``: 77 entries
  over its basic, multi-input, multi-layer and conv test models), via :func:`config_cases`;
* our real architectures (``insight_widget.testing``), via :func:`run_pair` directly.

:func:`run_pair` builds the same algorithm from both libraries (by class name), runs the same
call, and returns both results; :func:`assert_same` compares nested tensors/tuples/lists.
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, Iterable, List, Optional, Tuple

import captum.attr as captum_attr
import pytest
import torch
from captum.testing.attr.helpers.test_config import config as CAPTUM_CONFIGS
from torch import nn

import insight_widget.attr as ours_attr

RTOL = 1e-5
ATOL = 1e-6


def config_cases(algorithm_names: Iterable[str], exclude: Iterable[str] = ()) -> List[Any]:
    """pytest params ``(config, algorithm_name)`` for every Captum config using the names."""
    wanted = set(algorithm_names)
    skipped = set(exclude)
    cases = []
    for config in CAPTUM_CONFIGS:
        for algorithm in config["algorithms"]:
            name = algorithm.__name__
            if name in wanted and config["name"] not in skipped:
                cases.append(pytest.param(config, name, id=f"{config['name']}-{name}"))
    return cases


def resolve_layer(model: nn.Module, spec: Any) -> Any:
    """A layer given as a dotted attribute path (or a list of them) -> module(s)."""
    if spec is None:
        return None
    if isinstance(spec, list):
        return [resolve_layer(model, s) for s in spec]
    module = model
    for part in spec.split("."):
        module = getattr(module, part)
    return module


def build(library: Any, config: Dict[str, Any], name: str) -> Any:
    """Instantiate algorithm ``name`` from ``library`` for ``config`` (layer, noise tunnel)."""
    model = config["model"]
    layer = resolve_layer(model, config.get("layer"))
    cls = getattr(library, name)
    algorithm = cls(model) if layer is None else cls(model, layer)
    if config.get("noise_tunnel"):
        algorithm = library.NoiseTunnel(algorithm)
    return algorithm


def run(library: Any, config: Dict[str, Any], name: str, seed: Optional[int] = None,
        **overrides: Any) -> Any:
    """Run ``config`` with ``library``'s implementation of ``name``."""
    return run_algorithm(build(library, config, name), config, seed, **overrides)


def run_algorithm(algorithm: Any, config: Dict[str, Any], seed: Optional[int] = None,
                  **overrides: Any) -> Any:
    """Run ``config``'s call with an algorithm object built by :func:`build`."""
    kwargs = {**config["attribute_args"], **overrides}
    if seed is not None:
        torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return algorithm.attribute(**kwargs)


def run_pair(config: Dict[str, Any], name: str, seed: Optional[int] = None,
             **overrides: Any) -> Tuple[Any, Any]:
    """``(ours, captum's)`` results of the same call (same seed before each, if given)."""
    ours = run(ours_attr, config, name, seed, **overrides)
    theirs = run(captum_attr, config, name, seed, **overrides)
    return ours, theirs


def assert_same(ours: Any, theirs: Any, rtol: float = RTOL, atol: float = ATOL,
                path: str = "result") -> None:
    """Nested equality of tensors (allclose), tuples and lists, with a readable failure."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, torch.Tensor), f"{path}: expected a Tensor, got {type(ours)}"
        assert ours.shape == theirs.shape, f"{path}: shape {ours.shape} != {theirs.shape}"
        assert ours.dtype == theirs.dtype, f"{path}: dtype {ours.dtype} != {theirs.dtype}"
        close = torch.allclose(ours.detach().float() if ours.dtype == torch.bfloat16 else
                               ours.detach(), theirs.detach().to(ours.dtype), rtol=rtol,
                               atol=atol, equal_nan=True)
        if not close:
            diff = (ours.detach() - theirs.detach().to(ours.dtype)).abs()
            raise AssertionError(
                f"{path}: max |diff| {diff.max().item():.3g} (rtol {rtol}, atol {atol}); "
                f"ours {ours.flatten()[:6].tolist()} captum {theirs.flatten()[:6].tolist()}"
            )
        return
    if isinstance(theirs, (tuple, list)):
        assert isinstance(ours, (tuple, list)), f"{path}: expected a sequence, got {type(ours)}"
        assert type(ours) is type(theirs), f"{path}: {type(ours)} != {type(theirs)}"
        assert len(ours) == len(theirs), f"{path}: length {len(ours)} != {len(theirs)}"
        for index, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, rtol, atol, f"{path}[{index}]")
        return
    if isinstance(theirs, float):
        assert ours == pytest.approx(theirs, rel=rtol, abs=atol), f"{path}: {ours} != {theirs}"
        return
    assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"


def assert_same_delta(ours: Tuple[Any, torch.Tensor], theirs: Tuple[Any, torch.Tensor],
                      rtol: float = RTOL, atol: float = ATOL) -> None:
    """Compare ``(attributions, delta)`` pairs.

    A convergence delta is a small difference of large sums (sum of attributions minus
    F(x) - F(x')), so its float rounding is relative to those sums, not to the delta: the
    tolerance is ``rtol`` times the per-example magnitude of the attribution sum.
    """
    assert_same(ours[0], theirs[0], rtol, atol, "attributions")
    attributions = theirs[0] if isinstance(theirs[0], tuple) else (theirs[0],)
    n = attributions[0].shape[0]
    scale = sum(a.detach().reshape(n, -1).abs().sum(1) for a in attributions)
    scale = scale.reshape(theirs[1].shape) if theirs[1].numel() == n else scale.max()
    difference = (ours[1].detach() - theirs[1].detach().to(ours[1].dtype)).abs()
    allowed = rtol * scale.to(difference.dtype) + atol
    assert bool((difference <= allowed).all()), (
        f"delta: ours {ours[1].tolist()} captum {theirs[1].tolist()} (allowed {allowed.tolist()})"
    )
