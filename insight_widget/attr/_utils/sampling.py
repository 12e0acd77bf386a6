"""Expanding examples into rows of samples or (input, reference) pairs.

Expectation methods evaluate each of the N examples several times and average:

* **all reference pairs** (DeepLiftShap and its layer/neuron kin): each example against each
  of the B references, N*B rows ordered example-major (row i*B + j = example i, reference j);
* **noisy samples** (NoiseTunnel, GradientShap): each example repeated k times example-major
  (row i*k + s = example i, sample s) plus Gaussian noise;
* **drawn references** (NoiseTunnel's ``draw_baseline_from_distrib``, GradientShap): one
  reference drawn at random per row;
* **random path points** (GradientShap): x' + c (x - x') with one uniform c per row.

Random draws follow Captum 0.9's order and generators (established by experiment), so seeded
runs give Captum's numbers: the noise comes from torch's global generator, one
``randn(N*k, ...)`` per input in input order, in the default dtype and scaled by the stdev;
reference indices come from NumPy's global generator (``np.random.choice(B, N*k)``, one draw
per tensor reference, in input order); path coefficients come next from NumPy
(``np.random.uniform(0, 1, N*k)``, shared by all inputs). Seed both generators
(``torch.manual_seed``, ``np.random.seed``) to reproduce a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from .inputs import (
    expand_additional_forward_args,
    format_baseline_distribution,
    slice_additional_forward_args,
)
from .prepare import PreparedCall
from .target import Target
from .validation import check_number, describe, is_number


@dataclass
class ReferenceRows:
    """N examples expanded into ``rows = N * per_example`` example-major rows.

    ``inputs``/``baselines`` hold one tensor per input with ``rows`` rows; ``target`` and
    ``args`` follow the rows.
    """

    inputs: Tuple[Tensor, ...]
    baselines: Tuple[Tensor, ...]
    target: Target
    args: Optional[Tuple[Any, ...]]
    num_examples: int
    per_example: int

    @property
    def rows(self) -> int:
        return self.num_examples * self.per_example

    def mean_per_example(self, per_row: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
        """Tensors of ``rows`` rows -> the mean over each example's rows, (N, ...)."""
        return tuple(t.reshape(self.num_examples, self.per_example, *t.shape[1:]).mean(1)
                     for t in per_row)


def reference_distribution_pairs(baselines: Any, call: PreparedCall, inputs_as_given: Any,
                                 algorithm: str, single: str) -> ReferenceRows:
    """A DeepLiftShap-style method's rows: ``baselines`` formatted as a reference
    distribution of B >= 2 examples (else ``ValueError`` pointing to ``single``, the method
    for one baseline), and every example of ``call`` paired with every reference."""
    distribution = format_baseline_distribution(baselines, call.inputs, inputs_as_given)
    count = distribution[0].shape[0]
    if count < 2:
        raise ValueError(
            f"`baselines` must hold at least 2 reference examples for {algorithm} (it "
            f"averages over them); got {count}. Use {single} for a single baseline."
        )
    return all_reference_pairs(call.inputs, distribution, call.target, call.args)


def all_reference_pairs(
    inputs: Tuple[Tensor, ...],
    distribution: Tuple[Tensor, ...],
    target: Target,
    args: Optional[Tuple[Any, ...]],
) -> ReferenceRows:
    """Every example paired with every reference: inputs repeated in place B times, the B
    references tiled N times (DeepLiftShap)."""
    n, count = inputs[0].shape[0], distribution[0].shape[0]
    expanded = tuple(x.repeat_interleave(count, dim=0) for x in inputs)
    tiled = tuple(b.to(dtype=x.dtype, device=x.device).repeat(n, *([1] * (b.dim() - 1)))
                  for b, x in zip(distribution, inputs))
    return ReferenceRows(expanded, tiled, target.repeat_interleave(count),
                         expand_additional_forward_args(args, count, "repeat_interleave"),
                         n, count)


def check_stdevs(stdevs: Any, count: int, name: str = "stdevs") -> Tuple[float, ...]:
    """One non-negative standard deviation per input (a number is shared by all inputs)."""
    if is_number(stdevs) or (isinstance(stdevs, Tensor) and stdevs.numel() == 1):
        return (check_number(name, stdevs, minimum=0.0),) * count
    if isinstance(stdevs, (tuple, list)):
        if len(stdevs) != count:
            raise ValueError(
                f"`{name}` must be a number or hold one value per input ({count}); got "
                f"{len(stdevs)} values."
            )
        return tuple(check_number(f"{name}[{i}]", s, minimum=0.0) for i, s in enumerate(stdevs))
    raise TypeError(
        f"`{name}` must be a number or a tuple with one number per input; got {describe(stdevs)}."
    )


def noisy_samples(inputs: Sequence[Tensor], stdevs: Sequence[float],
                  samples: int) -> Tuple[Tensor, ...]:
    """Each example repeated ``samples`` times in place, plus N(0, stdev^2) noise.

    Shapes (N * samples, ...). The noise is drawn even for a zero stdev, so the generator
    advances exactly as in Captum and later draws agree.
    """
    noisy = []
    for x, stdev in zip(inputs, stdevs):
        n = x.shape[0]
        noise = torch.randn((n * samples, *x.shape[1:]), dtype=torch.get_default_dtype(),
                            device=x.device)
        if stdev == 0.0:
            noisy.append(x.repeat_interleave(samples, dim=0))
            continue
        noise.mul_(stdev)
        per_example = noise.view(n, samples, *x.shape[1:])
        if torch.result_type(x, noise) == noise.dtype:
            per_example.add_(x.unsqueeze(1))
            noisy.append(noise)
        else:
            noisy.append((x.unsqueeze(1) + per_example).reshape(noise.shape))
    return tuple(noisy)


def draw_reference_indices(distribution: Sequence[Union[Tensor, int, float]],
                           rows: int) -> Tuple[Optional[Tensor], ...]:
    """A random reference index per row for each tensor of ``distribution`` (numbers stay:
    ``None``), drawn with ``np.random.choice`` in input order."""
    drawn = []
    for reference in distribution:
        if isinstance(reference, Tensor):
            index = np.random.choice(reference.shape[0], size=rows)
            drawn.append(torch.from_numpy(index).to(reference.device))
        else:
            drawn.append(None)
    return tuple(drawn)


def path_coefficients(rows: int, like: Tensor) -> Tensor:
    """One uniform coefficient in [0, 1) per row (``np.random.uniform``), dtype of ``like``."""
    return torch.tensor(np.random.uniform(0.0, 1.0, rows), dtype=like.dtype, device=like.device)


@dataclass
class GradientShapRows:
    """GradientShap's random rows: noisy inputs, drawn references and path coefficients.

    Row r = example r // n_samples. ``inputs`` are materialised (N*n_samples rows); references
    are kept as the distribution plus indices so chunks gather only what they need.
    """

    inputs: Tuple[Tensor, ...]
    distribution: Tuple[Tensor, ...]
    reference_index: Tuple[Tensor, ...]
    coefficients: Tensor
    target: Target
    args: Optional[Tuple[Any, ...]]
    num_examples: int
    n_samples: int

    @property
    def rows(self) -> int:
        return self.num_examples * self.n_samples

    def chunk(self, start: int, stop: int) -> Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...],
                                                    Tuple[Tensor, ...], Target,
                                                    Optional[Tuple[Any, ...]]]:
        """Rows ``start:stop``: (noisy inputs, references, path points, target, args)."""
        inputs = tuple(x[start:stop] for x in self.inputs)
        references = tuple(d[i[start:stop]].to(dtype=x.dtype)
                           for d, i, x in zip(self.distribution, self.reference_index, inputs))
        c = self.coefficients[start:stop]
        points = tuple(b + c.view(-1, *([1] * (x.dim() - 1))) * (x - b)
                       for x, b in zip(inputs, references))
        return (inputs, references, points, self.target.slice(start, stop),
                slice_additional_forward_args(self.args, start, stop, self.rows))


def gradient_shap_rows(
    inputs: Tuple[Tensor, ...],
    distribution: Tuple[Tensor, ...],
    n_samples: int,
    stdevs: Sequence[float],
    target: Target,
    args: Optional[Tuple[Any, ...]],
) -> GradientShapRows:
    """Draw GradientShap's samples (Captum's order: noise, reference indices, coefficients)."""
    n = inputs[0].shape[0]
    rows = n * n_samples
    noisy = noisy_samples(inputs, stdevs, n_samples)
    indices = draw_reference_indices(distribution, rows)
    coefficients = path_coefficients(rows, inputs[0])
    return GradientShapRows(
        noisy, distribution, tuple(i for i in indices if i is not None), coefficients,
        target.repeat_interleave(n_samples),
        expand_additional_forward_args(args, n_samples, "repeat_interleave"), n, n_samples)


def sum_over_samples(rows: Tensor, num_examples: int) -> Tensor:
    """Sum of example-major rows per example: (N*k, ...) -> (N, ...)."""
    return rows.reshape(num_examples, -1, *rows.shape[1:]).sum(1)


__all__ = [
    "GradientShapRows",
    "ReferenceRows",
    "all_reference_pairs",
    "check_stdevs",
    "draw_reference_indices",
    "gradient_shap_rows",
    "noisy_samples",
    "path_coefficients",
    "reference_distribution_pairs",
    "sum_over_samples",
]
