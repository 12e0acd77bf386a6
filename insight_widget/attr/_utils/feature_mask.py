"""The ``feature_mask`` argument of perturbation methods: which elements move together.

A feature mask holds one integer tensor per input (or per perturbed layer); elements sharing an
id form one *feature group* that is perturbed (ablated, permuted, added to a coalition) as a
unit, and every element of a group receives the group's attribution. Forms accepted (Captum's):

* ``None``: every scalar is its own group; ids run consecutively across the inputs
  (input 0 holds ids ``0..n0-1``, input 1 ``n0..n0+n1-1``, ...);
* one tensor per input, broadcastable to the input (torch rules: missing leading dimensions
  count as 1) with first dimension 1 (one grouping for every example) or N (one per example);
* ids are shared across inputs: the same id in two inputs is one group.

Group order (the order perturbations are built and random numbers drawn in, matching Captum):
input by input, the ids of each input in ascending order, skipping ids already seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Sequence, Tuple

import torch
from torch import Tensor

from .validation import describe


@dataclass(frozen=True)
class FeatureMasks:
    """Validated feature masks.

    ``masks[i]``: long tensor with ``inputs[i].dim()`` dims, broadcastable to ``inputs[i]``,
    first dimension 1 or N. ``group_ids``: 1-D long tensor of the G distinct ids in group order.
    ``positions[i]``: ``masks[i]`` with each id replaced by its position in ``group_ids``.
    ``ids_per_input[i]``: the sorted distinct ids occurring in input i.
    """

    masks: Tuple[Tensor, ...]
    group_ids: Tensor
    positions: Tuple[Tensor, ...]
    ids_per_input: Tuple[Tensor, ...]

    @property
    def n_groups(self) -> int:
        return int(self.group_ids.numel())

    @property
    def per_example(self) -> bool:
        """True when some mask has one grouping per example (first dimension N > 1)."""
        return any(m.shape[0] > 1 for m in self.masks)

    @property
    def max_id(self) -> int:
        return int(self.group_ids.max()) if self.n_groups else -1

    def inputs_containing(self, group_positions: Sequence[int]) -> List[int]:
        """Indices of the inputs holding at least one of the groups at ``group_positions``."""
        ids = self.group_ids[list(group_positions)]
        return [i for i, present in enumerate(self.ids_per_input)
                if bool(torch.isin(ids, present).any())]


def default_feature_mask(inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
    """One group per scalar, ids consecutive across inputs; masks of shape (1, *x.shape[1:])."""
    masks = []
    offset = 0
    for x in inputs:
        count = x[0].numel() if x.shape[0] else int(torch.Size(x.shape[1:]).numel())
        masks.append(torch.arange(offset, offset + count, device=x.device).reshape(1, *x.shape[1:]))
        offset += count
    return tuple(masks)


def _check_one(mask: Any, x: Tensor, label: str) -> Tensor:
    if not isinstance(mask, Tensor):
        raise TypeError(f"{label} must be a torch.Tensor of integer feature ids; got "
                        f"{describe(mask)}.")
    if mask.is_complex():
        raise TypeError(f"{label} must hold integer feature ids (an integer, bool or float "
                        f"tensor of whole numbers); got dtype {mask.dtype}.")
    if mask.is_floating_point():
        # Captum accepts float masks (e.g. ``torch.zeros_like(x)``); ids must still be whole.
        whole = torch.isfinite(mask) & (mask == torch.round(mask))
        if not bool(whole.all()):
            raise ValueError(f"{label} must hold whole-number feature ids; the float mask "
                             f"holds {mask[~whole][0].item()}.")
    if mask.dim() > x.dim():
        raise ValueError(f"{label} has more dimensions than its input: mask shape "
                         f"{tuple(mask.shape)}, input shape {tuple(x.shape)}.")
    shape = (1,) * (x.dim() - mask.dim()) + tuple(mask.shape)
    n = x.shape[0]
    ok = all(s == t or s == 1 for s, t in zip(shape[1:], x.shape[1:])) and shape[0] in (1, n)
    if not ok:
        raise ValueError(
            f"{label} must be broadcastable to its input of shape {tuple(x.shape)} with first "
            f"dimension 1 (shared by all examples) or {n} (one per example); got shape "
            f"{tuple(mask.shape)}."
        )
    return mask.reshape(shape).to(device=x.device, dtype=torch.long)


def format_feature_mask(
    feature_mask: Any,
    inputs: Sequence[Tensor],
    name: str = "feature_mask",
    allow_negative: bool = True,
) -> FeatureMasks:
    """Validate ``feature_mask`` against ``inputs`` (``None`` gives the default mask).

    ``allow_negative=False`` (Shapley values, LIME) requires ids >= 0, since those methods
    number their players ``0..max_id``.
    """
    if feature_mask is None:
        masks = default_feature_mask(inputs)
    else:
        entries = feature_mask if isinstance(feature_mask, tuple) else (feature_mask,)
        if len(entries) != len(inputs):
            raise ValueError(f"`{name}` must have one tensor per input ({len(inputs)}); got "
                             f"{len(entries)}.")
        masks = tuple(
            _check_one(m, x, f"`{name}`[{i}]" if len(inputs) > 1 else f"`{name}`")
            for i, (m, x) in enumerate(zip(entries, inputs)))
    ids_per_input = tuple(torch.unique(m) for m in masks)
    if not allow_negative:
        for index, ids in enumerate(ids_per_input):
            if ids.numel() and int(ids[0]) < 0:
                label = f"`{name}`[{index}]" if len(inputs) > 1 else f"`{name}`"
                raise ValueError(f"{label} must hold feature ids >= 0; got {int(ids[0])}.")
    order: List[Tensor] = []
    seen = torch.empty(0, dtype=torch.long, device=masks[0].device)
    for ids in ids_per_input:
        new = ids[~torch.isin(ids, seen)]
        order.append(new)
        seen = torch.cat([seen, new])
    group_ids = torch.cat(order) if order else seen
    return FeatureMasks(masks, group_ids, _positions(masks, group_ids), ids_per_input)


def _positions(masks: Sequence[Tensor], group_ids: Tensor) -> Tuple[Tensor, ...]:
    """Each mask with ids replaced by their index in ``group_ids``."""
    sorted_ids, order = torch.sort(group_ids)
    return tuple(order[torch.searchsorted(sorted_ids, m)] for m in masks)


def spread_to_elements(
    per_group: Tensor, positions: Tensor, shape: torch.Size
) -> Tensor:
    """Attributions per element from attributions per group.

    ``per_group``: (R, G) values for R output rows and G groups (in group order).
    ``positions``: group positions of one mask (first dimension 1 or R).
    Returns a tensor of shape ``(R, *shape[1:])`` where element e of row r holds
    ``per_group[r, positions[r or 0, e]]``.
    """
    rows = per_group.shape[0]
    if positions.shape[0] not in (1, rows):
        raise ValueError(
            "a `feature_mask` with one grouping per example needs one model output value per "
            f"example; the mask has {positions.shape[0]} rows but the output has {rows} values."
        )
    index = positions.expand(rows, *positions.shape[1:]).reshape(rows, -1)
    values = torch.gather(per_group, 1, index).reshape(rows, *positions.shape[1:])
    return values.expand(rows, *shape[1:]).contiguous()
