"""Running statistics over a stream of tensors (Captum's ``Stat`` classes).

Each statistic is updated with one sample at a time (``update``) or a batch of samples along
dim 0 (``update_many``, vectorised for the built-in statistics), and read with ``get``.
Statistics that need others (Mean needs Count, MSE needs Mean, Var needs MSE, StdDev needs
Var) read them through the summarizer that owns them, which creates the dependencies and
updates them first. The variance family follows Welford / Chan et al.:

* ``MSE``  = M2 = sum over samples of (x - mean)^2 (Captum's name, not a mean);
* ``Var(order)``    = M2 / (n - order) in float64 (zeros while n <= order);
* ``StdDev(order)`` = sqrt(Var(order)).

Two statistics are *the same* (``==``, ``hash``) when they have the same class and order;
the name is not part of the identity, so a summarizer keeps the first of equal statistics.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor

from .._utils.validation import check_int

StatValue = Union[Tensor, int, float]
Lookup = Callable[["Stat"], "Stat"]


class Stat:
    """A statistic of a stream of tensors.

    Args:
        name: key of the statistic in a summary; default from the class (and order).
        **kwargs: parameters identifying the statistic (e.g. ``order``).
    """

    def __init__(self, name: Optional[str] = None, **kwargs: Any) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"`name` must be a str or None; got {type(name).__name__}.")
        self._name = name
        self.params: Dict[str, Any] = kwargs
        self._lookup: Optional[Lookup] = None

    # -- identity -------------------------------------------------------------------------
    def _key(self) -> Tuple[Any, ...]:
        return (type(self), tuple(sorted(self.params.items())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stat) and self._key() == other._key()

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    @property
    def name(self) -> str:
        """The key of this statistic in a summary."""
        return self._name if self._name is not None else self.default_name()

    def default_name(self) -> str:
        return type(self).__name__.lower()

    # -- wiring -----------------------------------------------------------------------------
    def dependencies(self) -> List[Stat]:
        """Statistics this one reads (created by the summarizer when missing)."""
        return []

    def fresh(self) -> Stat:
        """An un-updated copy with the same name and parameters (summarizers own copies)."""
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy._lookup = None
        copy.init()
        return copy

    def attach(self, lookup: Lookup) -> None:
        self._lookup = lookup

    def _get_stat(self, stat: Stat) -> Stat:
        if self._lookup is None:
            raise RuntimeError(
                f"{type(self).__name__} reads other statistics; update it through a Summarizer "
                "(e.g. Summarizer([Mean()]).update(x)), not on its own."
            )
        return self._lookup(stat)

    # -- the statistic --------------------------------------------------------------------
    def init(self) -> None:
        """Reset to the state before any update."""

    def update(self, x: Tensor) -> None:
        """Add one sample."""
        raise NotImplementedError(f"{type(self).__name__} must implement update")

    def update_many(self, xs: Tensor) -> None:
        """Add the samples ``xs[0], xs[1], ...`` (default: one ``update`` per sample)."""
        for x in xs:
            self.update(x)

    def get(self) -> Optional[StatValue]:
        """The current value (None before the first update)."""
        raise NotImplementedError(f"{type(self).__name__} must implement get")


class Count(Stat):
    """Number of samples seen (an int)."""

    def __init__(self, name: Optional[str] = None) -> None:
        super().__init__(name=name)
        self.init()

    def init(self) -> None:
        self.n: Optional[int] = None

    def update(self, x: Tensor) -> None:
        self.n = (self.n or 0) + 1

    def update_many(self, xs: Tensor) -> None:
        self.n = (self.n or 0) + xs.shape[0]

    def get(self) -> Optional[int]:
        return self.n


def _as_float(x: Tensor) -> Tensor:
    """Means of integer data are fractional: integers become float64."""
    return x if x.is_floating_point() or x.is_complex() else x.double()


class Mean(Stat):
    """Running mean, element-wise: mean_n = mean_{n-1} + (x - mean_{n-1}) / n."""

    def __init__(self, name: Optional[str] = None) -> None:
        super().__init__(name=name)
        self.init()

    def init(self) -> None:
        self.value: Optional[Tensor] = None

    def dependencies(self) -> List[Stat]:
        return [Count()]

    def _count(self) -> int:
        count = self._get_stat(Count()).get()
        assert count is not None
        return count

    def update(self, x: Tensor) -> None:
        x = _as_float(x)
        count = self._count()
        self.value = x.clone() if self.value is None else self.value + (x - self.value) / count

    def update_many(self, xs: Tensor) -> None:
        xs = _as_float(xs)
        total = self._count()
        if self.value is None:
            self.value = xs.mean(dim=0)
        else:
            self.value = self.value + (xs - self.value).sum(dim=0) / total

    def get(self) -> Optional[Tensor]:
        return self.value


class MSE(Stat):
    """Sum of squared deviations from the running mean (M2 of Welford's algorithm; Captum
    calls it ``mse``)."""

    def __init__(self, name: Optional[str] = None) -> None:
        super().__init__(name=name)
        self.init()

    def init(self) -> None:
        self.value: Optional[Tensor] = None
        self._previous_mean: Optional[Tensor] = None

    def dependencies(self) -> List[Stat]:
        return [Mean()]

    def _mean(self) -> Tensor:
        mean = self._get_stat(Mean()).get()
        assert isinstance(mean, Tensor)
        return mean

    def update(self, x: Tensor) -> None:
        mean = self._mean()
        if self.value is None:
            self.value = torch.zeros_like(mean)
        else:
            self.value = self.value + (x - self._previous_mean) * (x - mean)
        self._previous_mean = mean

    def update_many(self, xs: Tensor) -> None:
        # Chan et al.'s parallel combination of (n_old, mean_old, M2_old) with the batch.
        mean = self._mean()
        xs = _as_float(xs)
        batch_mean = xs.mean(dim=0)
        batch_m2 = ((xs - batch_mean) ** 2).sum(dim=0)
        if self.value is None:
            self.value = batch_m2
        else:
            count = self._get_stat(Count()).get()
            assert count is not None
            size = xs.shape[0]
            old = count - size
            delta = batch_mean - self._previous_mean
            self.value = self.value + batch_m2 + delta ** 2 * (old * size / count)
        self._previous_mean = mean

    def get(self) -> Optional[Tensor]:
        return self.value


class Var(Stat):
    """Variance with a degrees-of-freedom correction: M2 / (n - order) in float64
    (``order=1``: the sample variance); zeros while n <= order."""

    def __init__(self, name: Optional[str] = None, order: int = 0) -> None:
        super().__init__(name=name, order=check_int("order", order, minimum=0))
        self.order = self.params["order"]

    def default_name(self) -> str:
        if self.order == 0:
            return "variance"
        if self.order == 1:
            return "sample_variance"
        return f"variance({self.order})"

    def dependencies(self) -> List[Stat]:
        return [MSE(), Count()]

    def update(self, x: Tensor) -> None:
        """Nothing to do: the variance is read from MSE and Count."""

    def update_many(self, xs: Tensor) -> None:
        """Nothing to do: the variance is read from MSE and Count."""

    def get(self) -> Optional[Tensor]:
        m2 = self._get_stat(MSE()).get()
        count = self._get_stat(Count()).get()
        if m2 is None or count is None:
            return None
        assert isinstance(m2, Tensor)
        if count - self.order <= 0:
            return torch.zeros_like(m2)
        return m2.to(torch.float64) / (count - self.order)


class StdDev(Stat):
    """Standard deviation: the square root of ``Var(order)``."""

    def __init__(self, name: Optional[str] = None, order: int = 0) -> None:
        super().__init__(name=name, order=check_int("order", order, minimum=0))
        self.order = self.params["order"]

    def default_name(self) -> str:
        if self.order == 0:
            return "std_dev"
        if self.order == 1:
            return "sample_std_dev"
        return f"std_dev{self.order})"  # Captum's key, verbatim (its parenthesis is unmatched)

    def dependencies(self) -> List[Stat]:
        return [Var(order=self.order)]

    def update(self, x: Tensor) -> None:
        """Nothing to do: read from Var."""

    def update_many(self, xs: Tensor) -> None:
        """Nothing to do: read from Var."""

    def get(self) -> Optional[Tensor]:
        variance = self._get_stat(Var(order=self.order)).get()
        return None if variance is None else variance ** 0.5


class _Fold(Stat):
    """A statistic folding samples with a binary function: value = fn(value, x)."""

    _default: Callable[[Tensor, Tensor], Tensor]
    _reduce: Callable[[Tensor], Tensor]

    def __init__(self, name: Optional[str], function: Callable[[Tensor, Tensor], Tensor]
                 ) -> None:
        super().__init__(name=name)
        if not callable(function):
            raise TypeError(f"the {type(self).__name__} function must be callable; got "
                            f"{type(function).__name__}.")
        self.function = function
        self.init()

    def init(self) -> None:
        self.value: Optional[Tensor] = None

    def update(self, x: Tensor) -> None:
        self.value = x.clone() if self.value is None else self.function(self.value, x)

    def update_many(self, xs: Tensor) -> None:
        if self.function is not type(self)._default:
            super().update_many(xs)
            return
        folded = type(self)._reduce(xs)
        self.value = folded if self.value is None else self.function(self.value, folded)

    def get(self) -> Optional[Tensor]:
        return self.value


class Min(_Fold):
    """Element-wise minimum (``min_fn(current, x)``, default ``torch.min``)."""

    _default = torch.min
    _reduce = staticmethod(lambda xs: xs.amin(dim=0))

    def __init__(self, name: Optional[str] = None,
                 min_fn: Callable[[Tensor, Tensor], Tensor] = torch.min) -> None:
        super().__init__(name, min_fn)


class Max(_Fold):
    """Element-wise maximum (``max_fn(current, x)``, default ``torch.max``)."""

    _default = torch.max
    _reduce = staticmethod(lambda xs: xs.amax(dim=0))

    def __init__(self, name: Optional[str] = None,
                 max_fn: Callable[[Tensor, Tensor], Tensor] = torch.max) -> None:
        super().__init__(name, max_fn)


class Sum(_Fold):
    """Element-wise sum (``add_fn(current, x)``, default ``torch.add``)."""

    _default = torch.add
    _reduce = staticmethod(lambda xs: xs.sum(dim=0))

    def __init__(self, name: Optional[str] = None,
                 add_fn: Callable[[Tensor, Tensor], Tensor] = torch.add) -> None:
        super().__init__(name, add_fn)


def CommonStats() -> List[Stat]:
    """Mean, sample variance, sample standard deviation, min and max."""
    return [Mean(), Var(order=1), StdDev(order=1), Min(), Max()]
