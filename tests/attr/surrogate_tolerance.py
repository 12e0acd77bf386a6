"""Tolerances for comparing surrogate fits (Lime, KernelShap) with captum 0.9.0.

A least-squares (or Lasso) fit amplifies tiny differences in its data by the conditioning of
the problem, and those differences depend on the machine: our model outputs come from
batched forward passes whose float32 rounding differs from Captum's per-chunk passes, and
Captum solves KernelShap's weighted least squares in float32 (scikit-learn on float32
arrays) where we solve in float64. A fixed rtol tuned on one CPU therefore fails on another
(issue 11). Instead, :func:`recorded_fits` records the data each fit receives on both sides,
and :func:`fit_tolerance` bounds the difference of the solutions to first order
(Golub & Van Loan, *Matrix Computations*, 4th ed., Thm 5.3.1, written for absolute errors):

    ||x' - x|| <= e_b ||b|| / s_min + e_A (kappa ||x|| + kappa ||r|| / s_min)

for ``A x ~ b`` with ``A = sqrt(w) (X - mean_w X)``, ``b = sqrt(w) (y - mean_w y)`` (the
weighted, centred problem both libraries solve), ``s_min`` / ``kappa`` the smallest non-zero
singular value / condition number of A, ``r = b - A x`` the residual of Captum's solution,
and ``e_A``, ``e_b`` the relative differences of the two sides' data (measured) plus the
relative backward error of the float32 solver (4 u, u = 2^-24: rounding the data to float32
and a backward-stable solve) where one side solves in float32. The same bound holds for a
Lasso solution restricted to its active set (deleting columns cannot raise kappa). Each
attribution is one coefficient (spread over its group), so ``max |ours - captum|`` is at
most this bound. It is first order; a factor 2 covers the second-order terms.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, List, Tuple

import torch

FLOAT32_SOLVER = 4 * 2.0 ** -24
# scikit-learn's Lasso default (Captum's SkLearnLasso and our LassoRegression use it).
SKLEARN_LASSO_TOL = 1e-4


def _as_problem(inputs: torch.Tensor, outputs: torch.Tensor,
                weights: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    x = inputs.detach().double().reshape(inputs.shape[0], -1)
    y = outputs.detach().double().reshape(-1)
    w = weights.detach().double().reshape(-1)
    root = w.sqrt()
    mean_x = (w.unsqueeze(1) * x).sum(0) / w.sum()
    mean_y = (w * y).sum() / w.sum()
    return (x - mean_x) * root.unsqueeze(1), (y - mean_y) * root


@contextlib.contextmanager
def recorded_fits(ours: Any, theirs: Any) -> Iterator[Tuple[List[Any], List[Any]]]:
    """Record ``(inputs, outputs, weights, coefficients)`` of every surrogate fit of our
    Lime/KernelShap object ``ours`` and Captum's ``theirs`` (their interpretable models train
    from a DataLoader of one batch)."""
    our_fits: List[Any] = []
    their_fits: List[Any] = []
    our_model, their_model = ours.interpretable_model, theirs.interpretable_model
    our_fit, their_fit = our_model.fit_tensors, their_model.fit

    def record_ours(inputs, outputs, weights=None, **kwargs):
        result = our_fit(inputs, outputs, weights, **kwargs)
        our_fits.append((inputs, outputs, weights, our_model.representation().reshape(-1)))
        return result

    def record_theirs(loader, **kwargs):
        result = their_fit(loader, **kwargs)
        state = torch.get_rng_state()  # iterating a DataLoader draws a seed from torch's RNG
        inputs, outputs, weights = next(iter(loader))
        torch.set_rng_state(state)
        their_fits.append((inputs, outputs, weights,
                           their_model.representation().detach().reshape(-1)))
        return result

    our_model.fit_tensors, their_model.fit = record_ours, record_theirs
    try:
        yield our_fits, their_fits
    finally:
        del our_model.fit_tensors, their_model.fit


def fit_tolerance(our_fits: List[Any], their_fits: List[Any], solver_error: float,
                  stopping_tol: float = 0.0) -> float:
    """The largest first-order bound (times 2) on ``||ours - captum||`` over paired fits;
    ``solver_error``: relative backward error of the solvers beyond the data differences
    (``FLOAT32_SOLVER`` when a side solves in float32). ``stopping_tol``: an iterative
    solver's duality-gap tolerance relative to ``||b||^2`` (scikit-learn's Lasso: 1e-4). Where
    the two sides' data differ, their iterates differ and may stop a sweep apart; each is then
    within ``sqrt(2 tol) ||b|| / s_min`` of the optimum (the objective is s_min^2-strongly
    convex), so twice that is added. On bitwise-equal data the same solver gives equal
    results and that term is 0."""
    assert len(our_fits) == len(their_fits) > 0
    bound = 0.0
    for (xo, yo, wo, _), (xt, yt, wt, coefficients) in zip(our_fits, their_fits):
        a_ours, b_ours = _as_problem(xo, yo, wo)
        a, b = _as_problem(xt, yt, wt)
        singular = torch.linalg.svdvals(a)
        # rank as a float32 solver sees it: singular values above its rounding level
        nonzero = singular[singular > singular[0] * max(a.shape) * 2.0 ** -24]
        s_min, kappa = float(nonzero[-1]), float(nonzero[0] / nonzero[-1])
        e_a = float((a_ours - a).norm() / a.norm()) + solver_error
        e_b = float((b_ours - b).norm() / b.norm().clamp_min(1e-300)) + solver_error
        x = coefficients.double()
        r = float((b - a @ x).norm())
        first_order = (e_b * float(b.norm()) / s_min
                       + e_a * (kappa * float(x.norm()) + kappa * r / s_min))
        differ = not (torch.equal(a_ours, a) and torch.equal(b_ours, b))
        stopping = 2 * (2 * stopping_tol) ** 0.5 * float(b.norm()) / s_min if differ else 0.0
        bound = max(bound, 2 * first_order + stopping)
    return bound
