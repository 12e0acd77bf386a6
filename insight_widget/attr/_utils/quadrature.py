"""Quadrature rules for path integrals over alpha in [0, 1].

A rule with ``n`` nodes returns ``(step_sizes, alphas)`` such that
``integral_0^1 g(alpha) d alpha ~= sum_k step_sizes[k] * g(alphas[k])``.

* ``riemann_left``:   alphas = k/n,             k = 0..n-1; step sizes 1/n.
* ``riemann_right``:  alphas = (k+1)/n;         step sizes 1/n.
* ``riemann_middle``: alphas = (k+1/2)/n;       step sizes 1/n.
* ``riemann_trapezoid``: alphas = k/(n-1), k = 0..n-1; step sizes 1/n with the two end weights
  halved. **Deliberately kept from Captum**: these weights sum to (n-1)/n, not 1 (the textbook
  trapezoid rule uses spacing 1/(n-1)), so results agree with Captum's numbers; the error this
  adds shows in the convergence delta.
* ``gausslegendre``: Gauss-Legendre nodes x_k and weights w_k on [-1, 1] mapped to [0, 1]:
  alphas = (x_k + 1)/2, step sizes = w_k/2. Exact for polynomials of degree <= 2n-1 in alpha.
"""

from __future__ import annotations

from functools import lru_cache
from typing import List, Tuple

import numpy as np

from .validation import check_choice, check_int

SUPPORTED_METHODS = [
    "riemann_left",
    "riemann_right",
    "riemann_middle",
    "riemann_trapezoid",
    "gausslegendre",
]


def _riemann(method: str, n: int) -> Tuple[List[float], List[float]]:
    if method == "riemann_trapezoid":
        alphas = np.linspace(0.0, 1.0, n)
        steps = np.full(n, 1.0 / n)
        steps[[0, -1]] *= 0.5
        return steps.tolist(), alphas.tolist()
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[method]
    alphas = (np.arange(n) + offset) / n
    return [1.0 / n] * n, alphas.tolist()


def _gauss_legendre(n: int) -> Tuple[List[float], List[float]]:
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return (0.5 * weights).tolist(), (0.5 * (nodes + 1.0)).tolist()


@lru_cache(maxsize=256)
def _rule(method: str, n_steps: int) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    steps, alphas = _gauss_legendre(n_steps) if method == "gausslegendre" else _riemann(
        method, n_steps)
    return tuple(steps), tuple(alphas)


def validate_rule(method: str, n_steps: int) -> int:
    """Check ``method`` and ``n_steps`` (trapezoid needs two nodes); return ``n_steps``."""
    check_choice("method", method, SUPPORTED_METHODS)
    minimum = 2 if method == "riemann_trapezoid" else 1
    return check_int("n_steps", n_steps, minimum=minimum)


def step_sizes_and_alphas(method: str, n_steps: int) -> Tuple[List[float], List[float]]:
    """``(step_sizes, alphas)`` of ``method`` with ``n_steps`` nodes (validated)."""
    n_steps = validate_rule(method, n_steps)
    steps, alphas = _rule(method, n_steps)
    return list(steps), list(alphas)

