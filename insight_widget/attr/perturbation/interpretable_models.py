"""Interpretable (surrogate) models for LIME and Kernel SHAP.

A surrogate follows Captum's ``Model`` interface, so Captum's own
``captum._utils.models.linear_model`` objects work here too:

* ``fit(train_data: DataLoader, **kwargs)``: train on batches of
  ``(interpretable_inputs (S, M), expected_outputs (S,), weights (S,))``;
* ``representation() -> Tensor``: the coefficients (M,) (or (1, M));
* ``bias() -> Tensor``: the intercept.

Ours also offer ``fit_tensors(inputs, outputs, weights)``, which LIME calls directly (no
DataLoader round trip).

* :class:`WeightedLinearRegression`: exact weighted least squares with an intercept, solved
  in float64 with ``torch.linalg.lstsq`` (``gelsd``: the minimum-norm solution when there are
  fewer samples than features, as scikit-learn's ``LinearRegression``). Kernel SHAP's model.
* :class:`LassoRegression`: scikit-learn's objective
  ``1/(2 sum w) sum_i w_i (y_i - b - x_i.beta)^2 + alpha |beta|_1``. Solved by
  scikit-learn's ``Lasso`` when scikit-learn is installed (what Captum's default
  ``SkLearnLasso(alpha=0.01)`` runs, so LIME's numbers match Captum's), otherwise by our
  coordinate descent run to a tight tolerance (it then agrees with scikit-learn to about 1e-4
  relative, the difference being scikit-learn's own stopping tolerance).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, Optional, Tuple

import torch
from torch import Tensor

from .._utils.validation import check_number


def _tensors_of(train_data: Any) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
    """Concatenate the (inputs, outputs[, weights]) batches of a DataLoader."""
    batches = list(train_data)
    columns = list(zip(*batches))
    inputs = torch.cat(columns[0])
    outputs = torch.cat(columns[1])
    weights = torch.cat(columns[2]) if len(columns) > 2 else None
    return inputs, outputs, weights


def _centered(inputs: Tensor, outputs: Tensor, weights: Optional[Tensor]
              ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """float64 data centred by the weighted means; returns (X_c, y_c, w, x_mean, y_mean)."""
    x = inputs.detach().double().reshape(inputs.shape[0], -1)
    y = outputs.detach().double().reshape(-1)
    w = (torch.ones_like(y) if weights is None else weights.detach().double().reshape(-1))
    total = w.sum()
    x_mean = (w.unsqueeze(1) * x).sum(0) / total
    y_mean = (w * y).sum() / total
    return x - x_mean, y - y_mean, w, x_mean, y_mean


class _LinearSurrogate(ABC):
    """Common state of the linear surrogates: coefficients and intercept after a fit."""

    def __init__(self) -> None:
        self._coefficients: Optional[Tensor] = None
        self._intercept: Optional[Tensor] = None
        self._dtype = torch.float32

    def fit(self, train_data: Any, **kwargs: Any) -> None:
        """Train on a DataLoader of ``(inputs, outputs, weights)`` batches."""
        self.fit_tensors(*_tensors_of(train_data))

    @abstractmethod
    def fit_tensors(self, inputs: Tensor, outputs: Tensor,
                    weights: Optional[Tensor] = None) -> None:
        """Train on ``inputs`` (S, M), ``outputs`` (S,) and sample ``weights`` (S,)."""

    def representation(self) -> Tensor:
        """Coefficients, shape (M,)."""
        if self._coefficients is None:
            raise RuntimeError("the interpretable model has not been fitted yet.")
        return self._coefficients

    def bias(self) -> Optional[Tensor]:
        """Intercept, shape (1,)."""
        return self._intercept

    def _store(self, coefficients: Tensor, intercept: Tensor) -> None:
        self._coefficients = coefficients.to(self._dtype)
        self._intercept = intercept.reshape(1).to(self._dtype)


class WeightedLinearRegression(_LinearSurrogate):
    r"""Weighted least squares with intercept:
    :math:`\min_{\beta, b} \sum_i w_i (y_i - b - x_i^T \beta)^2`, the minimum-norm
    :math:`\beta` when the problem is under-determined."""

    def fit_tensors(self, inputs: Tensor, outputs: Tensor,
                    weights: Optional[Tensor] = None) -> None:
        self._dtype = outputs.dtype if outputs.is_floating_point() else torch.float32
        x, y, w, x_mean, y_mean = _centered(inputs, outputs, weights)
        root = w.sqrt()
        solution = torch.linalg.lstsq((x * root.unsqueeze(1)).cpu(),
                                      (y * root).unsqueeze(1).cpu(), driver="gelsd").solution
        beta = solution.reshape(-1).to(x.device)
        self._store(beta, y_mean - x_mean @ beta)


class LassoRegression(_LinearSurrogate):
    """L1-regularised linear regression with intercept (scikit-learn's Lasso objective).

    Args:
        alpha: the L1 weight (Captum's LIME default 0.01).
        use_sklearn: solve with scikit-learn when it is installed (default True; matches
            Captum exactly), else with our coordinate descent.
        max_iter, tol: coordinate-descent limits (largest coefficient change per sweep).
    """

    def __init__(self, alpha: float = 0.01, use_sklearn: bool = True, max_iter: int = 10000,
                 tol: float = 1e-10) -> None:
        super().__init__()
        self.alpha = check_number("alpha", alpha, minimum=0.0)
        self.use_sklearn = use_sklearn
        self.max_iter = max_iter
        self.tol = tol

    def fit_tensors(self, inputs: Tensor, outputs: Tensor,
                    weights: Optional[Tensor] = None) -> None:
        self._dtype = outputs.dtype if outputs.is_floating_point() else torch.float32
        if self.use_sklearn and self._fit_sklearn(inputs, outputs, weights):
            return
        x, y, w, x_mean, y_mean = _centered(inputs, outputs, weights)
        w = w * (len(w) / w.sum())  # scikit-learn rescales weights to sum to n_samples
        beta = _coordinate_descent(x, y, w, self.alpha, self.max_iter, self.tol)
        self._store(beta, y_mean - x_mean @ beta)

    def _fit_sklearn(self, inputs: Tensor, outputs: Tensor, weights: Optional[Tensor]) -> bool:
        try:
            from sklearn.linear_model import Lasso
        except ImportError:
            return False
        # float32 arrays, as Captum hands them to scikit-learn (its numbers depend on it).
        x = inputs.detach().float().reshape(inputs.shape[0], -1).cpu().numpy()
        y = outputs.detach().float().reshape(-1).cpu().numpy()
        w = None if weights is None else weights.detach().float().reshape(-1).cpu().numpy()
        model = Lasso(alpha=self.alpha).fit(x, y, sample_weight=w)
        self._store(torch.as_tensor(model.coef_).reshape(-1).to(inputs.device),
                    torch.as_tensor(model.intercept_).to(inputs.device))
        return True


def _coordinate_descent(x: Tensor, y: Tensor, w: Tensor, alpha: float, max_iter: int,
                        tol: float) -> Tensor:
    r"""Minimise :math:`\frac{1}{2n} \sum_i w_i (y_i - x_i^T\beta)^2 + \alpha |\beta|_1`
    (centred data, weights summing to n) by cyclic coordinate descent."""
    n, m = x.shape
    beta = torch.zeros(m, dtype=torch.float64, device=x.device)
    residual = y.clone()
    curvature = (w.unsqueeze(1) * x * x).sum(0)
    threshold = alpha * n
    for _ in range(max_iter):
        largest_change = 0.0
        for j in range(m):
            if curvature[j] == 0:
                continue
            old = float(beta[j])
            rho = float((w * x[:, j] * residual).sum()) + float(curvature[j]) * old
            new = math.copysign(max(abs(rho) - threshold, 0.0), rho) / float(curvature[j])
            if new != old:
                residual -= x[:, j] * (new - old)
                beta[j] = new
                largest_change = max(largest_change, abs(new - old))
        if largest_change <= tol:
            break
    return beta
