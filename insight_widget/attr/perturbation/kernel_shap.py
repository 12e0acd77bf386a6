"""Kernel SHAP (Lundberg & Lee, 2017): Shapley values by weighted linear regression."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Tuple

import torch
from torch import Tensor

from ..base import TensorOrTupleOfTensors
from .interpretable_models import WeightedLinearRegression
from .lime import Lime

# Weight of the empty and full coalitions: large enough that the fit (nearly) passes through
# F(x') and F(x), which makes the coefficients add up to F(x) - F(x') (Captum's value).
INF_WEIGHT = 1e6


def coalition_size_distribution(num_features: int) -> Tensor:
    r"""Probabilities (float32, length M) of drawing a coalition of size k: 0 for k = 0 and
    :math:`\propto (M-1) / (k (M-k))` for k = 1..M-1, the Shapley kernel's total weight of the
    size-k coalitions."""
    sizes = torch.arange(1, num_features, dtype=torch.float32)
    weights = (num_features - 1) / (sizes * (num_features - sizes))
    probabilities = torch.cat([torch.zeros(1), weights])
    return probabilities / probabilities.sum()


class KernelShap(Lime):
    r"""Kernel SHAP: LIME with the Shapley kernel, which makes the linear surrogate's
    coefficients estimate the Shapley values of the feature groups.

    Samples (Captum's order and random draws): the full coalition, the empty one, then for
    each further sample a size k from :func:`coalition_size_distribution` (one
    ``torch.multinomial`` draw) and the k features with the largest of ``torch.randn(1, M)``.
    Because sizes are drawn in proportion to the kernel, the random samples have weight 1;
    the empty and full coalitions get weight ``1e6``. The surrogate is weighted least squares
    with an intercept (:class:`~.interpretable_models.WeightedLinearRegression`, exact; the
    minimum-norm solution with fewer samples than features). For a linear model and enough
    samples the coefficients are exactly :math:`w_j (x_j - x'_j)` summed over group j.

    Args:
        forward_func: the model or any callable returning the output tensor.
    """

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        super().__init__(forward_func, interpretable_model=WeightedLinearRegression(),
                         similarity_func=self.kernel_shap_similarity_kernel,
                         perturb_func=self.kernel_shap_perturb_generator)
        self.inf_weight = INF_WEIGHT

    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        feature_mask: Any = None,
        n_samples: int = 25,
        perturbations_per_eval: int = 1,
        return_input_shape: bool = True,
        show_progress: bool = False,
    ) -> TensorOrTupleOfTensors:
        """Kernel SHAP values per feature group; arguments as for :class:`Lime`."""
        return self._attribute_lime(inputs, baselines, target, additional_forward_args,
                                    feature_mask, n_samples, perturbations_per_eval,
                                    return_input_shape, show_progress)

    def kernel_shap_similarity_kernel(self, original_inp: Any, perturbed_inp: Any,
                                      perturbed_interpretable_inp: Tensor, **kwargs: Any) -> float:
        """1 for sampled coalitions, ``inf_weight`` for the empty and full ones."""
        selected = int(perturbed_interpretable_inp.sum())
        extreme = selected in (0, perturbed_interpretable_inp.numel())
        return self.inf_weight if extreme else 1.0

    def kernel_shap_perturb_generator(self, original_inp: Any, **kwargs: Any
                                      ) -> Iterator[Tensor]:
        """Binary coalitions (1, M): all ones, all zeros, then kernel-distributed samples."""
        num_features = kwargs["num_interp_features"]
        device = (original_inp[0] if isinstance(original_inp, tuple) else original_inp).device
        yield torch.ones(1, num_features, dtype=torch.long, device=device)
        yield torch.zeros(1, num_features, dtype=torch.long, device=device)
        if num_features < 2:
            while True:  # only the two coalitions exist
                yield torch.ones(1, num_features, dtype=torch.long, device=device)
                yield torch.zeros(1, num_features, dtype=torch.long, device=device)
        probabilities = coalition_size_distribution(num_features).unsqueeze(0)
        while True:
            size = int(torch.multinomial(probabilities, 1, replacement=True))
            scores = torch.randn(1, num_features)
            threshold = torch.kthvalue(scores, num_features - size).values
            yield (scores > threshold).long().to(device)

    def _default_sampling(self) -> bool:
        return True

    def _interpretable_samples(self, values: Tuple[Tensor, ...], kwargs: dict,
                               n_samples: int) -> Tensor:
        stream = self.kernel_shap_perturb_generator(values, **kwargs)
        return torch.cat([next(stream) for _ in range(n_samples)])

    def _sample_weights(self, values: Tuple[Tensor, ...], rows: Tuple[Tensor, ...],
                        interpretable: Tensor) -> Tensor:
        selected = interpretable.sum(1)
        extreme = (selected == 0) | (selected == interpretable.shape[1])
        return torch.where(extreme, torch.tensor(self.inf_weight, dtype=torch.float64),
                           torch.tensor(1.0, dtype=torch.float64))
