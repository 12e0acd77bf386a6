"""ProductBaselines: baselines drawn from the Cartesian product of allowed values."""

from __future__ import annotations

import random
from typing import Any, Dict, List, Tuple, Union

from .._utils.validation import describe

BaselineValues = Union[List[List[Any]], Dict[Union[str, Tuple[str, ...]], List[Any]]]


class ProductBaselines:
    """A callable that returns one sample of the Cartesian product of each feature's allowed
    baseline values.

    Each call draws, feature by feature in the given order, one value with
    ``random.choice`` (Python's generator: seed it with ``random.seed``), so a list of choices
    gives a list and a dict gives a dict. A dict key may be a tuple of feature names whose
    baselines go together; its choices are tuples of the same length, spread over the names.

    Args:
        baseline_values: a list (one list of choices per feature) or a dict mapping a feature
            name, or a tuple of names, to its list of choices.
    """

    def __init__(self, baseline_values: BaselineValues) -> None:
        if isinstance(baseline_values, dict):
            items = list(baseline_values.items())
        elif isinstance(baseline_values, (list, tuple)):
            items = list(enumerate(baseline_values))
        else:
            raise TypeError("`baseline_values` must be a list of lists or a dict of lists; got "
                            f"{describe(baseline_values)}.")
        for key, choices in items:
            if not isinstance(choices, (list, tuple)) or len(choices) == 0:
                raise ValueError(f"`baseline_values[{key!r}]` must be a non-empty list of "
                                 f"choices; got {describe(choices)}.")
            if isinstance(key, tuple):
                for choice in choices:
                    if not isinstance(choice, tuple) or len(choice) != len(key):
                        raise ValueError(
                            f"`baseline_values[{key!r}]` groups {len(key)} features, so each "
                            f"choice must be a tuple of {len(key)} values; got "
                            f"{describe(choice)}.")
        self.baseline_values = baseline_values
        self._is_dict = isinstance(baseline_values, dict)

    def sample(self) -> Union[List[Any], Dict[str, Any]]:
        """One draw: a value per feature (a list or a dict, like ``baseline_values``)."""
        if not self._is_dict:
            return [random.choice(choices) for choices in self.baseline_values]
        drawn: Dict[str, Any] = {}
        for key, choices in self.baseline_values.items():
            value = random.choice(choices)
            if isinstance(key, tuple):
                drawn.update(zip(key, value))
            else:
                drawn[key] = value
        return drawn

    def __call__(self) -> Union[List[Any], Dict[str, Any]]:
        return self.sample()
