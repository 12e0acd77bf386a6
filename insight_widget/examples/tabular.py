"""Tabular demo: predict hourly bike-rental demand (low / medium / high) from named features.

The rows are generated from a rule written down here, so attributions can be checked against
the truth: demand rises with comfortable temperatures (best near 22 °C), falls with humidity
above 60 %, wind, rain and snow, peaks at commuting hours on workdays and around midday at
weekends, and is low at night. ``day_of_month`` has **no** effect: a good attribution gives it
about nothing.

Model inputs are rows of :data:`FEATURES` (numeric columns scaled to about [-1, 1], the
categorical features ``weather`` and ``day`` one-hot encoded). :func:`feature_mask` groups the
one-hot columns of a categorical feature so perturbation methods switch them off together.

>>> from insight_widget.examples import tabular
>>> model = tabular.load_model()
>>> x, y = tabular.make_dataset(100, seed=1)      # (100, 11) float, (100,) long
>>> model(x).argmax(1)                            # indices into tabular.CLASSES
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import torch
from torch import Tensor, nn

from ._training import accuracy, fit
from ._weights import load_weights, save_weights

CLASSES: List[str] = ["low demand", "medium demand", "high demand"]
WEIGHTS = "tabular"
# numeric feature -> (low, high) of its uniform generating range (also its scaling range)
NUMERIC: Dict[str, Tuple[float, float]] = {
    "temperature": (-5.0, 35.0),   # °C
    "humidity": (20.0, 100.0),     # %
    "wind_speed": (0.0, 50.0),     # km/h
    "hour": (0.0, 24.0),           # hour of day (fractional)
    "day_of_month": (1.0, 32.0),   # floored to 1..31; no effect on demand
}
CATEGORICAL: Dict[str, List[str]] = {
    "weather": ["clear", "cloudy", "rain", "snow"],
    "day": ["workday", "weekend"],
}
FEATURE_NAMES: List[str] = [*NUMERIC, *CATEGORICAL]
FEATURES: List[str] = [*NUMERIC] + [f"{name}={c}" for name, cats in CATEGORICAL.items()
                                    for c in cats]
_WEATHER_EFFECT = (0.0, -0.35, -1.6, -2.3)
_NOISE_STD = 0.3
TRAIN_SEED = 10_000
TEST_SEED = 2024
TRAIN_SIZE = 12_000


def make_table(n: int, seed: int) -> Dict[str, Tensor]:
    """``n`` raw rows as columns: numeric features float (n,), categorical ones long codes (n,)
    indexing :data:`CATEGORICAL` lists, and ``"score"`` (the latent demand)."""
    g = torch.Generator().manual_seed(int(seed))
    table: Dict[str, Tensor] = {}
    for name, (low, high) in NUMERIC.items():
        table[name] = low + (high - low) * torch.rand(n, generator=g)
    table["day_of_month"] = table["day_of_month"].floor()
    table["weather"] = torch.multinomial(torch.tensor([0.45, 0.3, 0.17, 0.08]), n,
                                         replacement=True, generator=g)
    table["day"] = (torch.rand(n, generator=g) < 2 / 7).long()
    table["score"] = demand_score(table) + _NOISE_STD * torch.randn(n, generator=g)
    return table


def demand_score(table: Dict[str, Tensor]) -> Tensor:
    """The noiseless latent demand of raw rows (higher = more rentals)."""
    t, h, w, hour = table["temperature"], table["humidity"], table["wind_speed"], table["hour"]
    comfort = 1.2 - ((t - 22.0) / 11.0) ** 2
    muggy = -1.8 * ((h - 60.0) / 40.0).clamp(min=0.0)
    windy = -0.035 * w
    weather = torch.tensor(_WEATHER_EFFECT)[table["weather"]]

    def bump(centre: float, width: float) -> Tensor:
        return torch.exp(-0.5 * ((hour - centre) / width) ** 2)

    workday = 1.3 * (bump(8.0, 1.2) + bump(17.5, 1.5))
    weekend = 1.1 * bump(13.5, 2.8)
    rhythm = torch.where(table["day"] == 1, weekend, workday)
    night = -1.2 * ((hour < 5.5) | (hour > 22.5)).float()
    return comfort + muggy + windy + weather + rhythm + night


def _thresholds() -> Tuple[float, float]:
    """Scores splitting a large fixed sample into thirds (the class boundaries)."""
    scores = make_table(30_000, seed=0)["score"]
    return float(scores.quantile(1 / 3)), float(scores.quantile(2 / 3))


THRESHOLDS: Tuple[float, float] = _thresholds()


def labels_of(table: Dict[str, Tensor]) -> Tensor:
    """Class index (n,) of each raw row: 0 low, 1 medium, 2 high."""
    low, high = THRESHOLDS
    return (table["score"] > low).long() + (table["score"] > high).long()


def encode(table: Dict[str, Tensor]) -> Tensor:
    """Model inputs (n, len(FEATURES)): numeric scaled to [-1, 1], categoricals one-hot."""
    columns = []
    for name, (low, high) in NUMERIC.items():
        columns.append(2 * (table[name] - low) / (high - low) - 1)
    for name, categories in CATEGORICAL.items():
        columns.extend((table[name] == k).float() for k in range(len(categories)))
    return torch.stack(columns, dim=1)


def decode(x: Tensor) -> List[Dict[str, object]]:
    """Raw, readable values of encoded rows (n, len(FEATURES)) — e.g. for tables and captions."""
    rows = []
    for row in x.tolist():
        values: Dict[str, object] = {}
        for i, (name, (low, high)) in enumerate(NUMERIC.items()):
            values[name] = round(low + (row[i] + 1) * (high - low) / 2, 1)
        offset = len(NUMERIC)
        for name, categories in CATEGORICAL.items():
            codes = row[offset:offset + len(categories)]
            values[name] = categories[max(range(len(codes)), key=codes.__getitem__)]
            offset += len(categories)
        rows.append(values)
    return rows


def feature_mask() -> Tensor:
    """(1, len(FEATURES)) long: the group of each column, one group per entry of
    :data:`FEATURE_NAMES` (all one-hot columns of a categorical feature share a group)."""
    groups = list(range(len(NUMERIC)))
    for k, categories in enumerate(CATEGORICAL.values()):
        groups.extend([len(NUMERIC) + k] * len(categories))
    return torch.tensor([groups])


def make_dataset(n: int, seed: int = TEST_SEED) -> Tuple[Tensor, Tensor]:
    """Encoded rows (n, len(FEATURES)) float32 and labels (n,) long, deterministic in seed."""
    table = make_table(n, seed)
    return encode(table), labels_of(table)


class TabularNet(nn.Module):
    """Linear-BN-ReLU-Linear-ReLU-Linear: rows (N, 11) -> logits (N, 3)."""

    def __init__(self, in_features: int = len(FEATURES), hidden: int = 48) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.bn1 = nn.BatchNorm1d(hidden)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(hidden, hidden // 2)
        self.relu2 = nn.ReLU()
        self.fc3 = nn.Linear(hidden // 2, len(CLASSES))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc3(self.relu2(self.fc2(self.relu1(self.bn1(self.fc1(x))))))


def load_model() -> TabularNet:
    """The bundled, trained :class:`TabularNet` in eval mode."""
    return load_weights(TabularNet(), WEIGHTS)


def bayes_accuracy(n: int = 20_000, seed: int = TEST_SEED) -> float:
    """Accuracy of the generating rule itself (noiseless score) on held-out rows: the ceiling
    any model can reach, because of the label noise."""
    table = make_table(n, seed)
    low, high = THRESHOLDS
    clean = demand_score(table)
    predicted = (clean > low).long() + (clean > high).long()
    return float((predicted == labels_of(table)).float().mean())


def train(epochs: int = 30, log=print) -> TabularNet:
    """Retrain from seed 0 on fresh rows every epoch and save ``weights/tabular.pt``."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = TabularNet()
    def epoch_data(epoch: int):
        x, y = make_dataset(TRAIN_SIZE, TRAIN_SEED + epoch)
        return (x,), y

    fit(model, epoch_data, epochs=epochs, batch_size=256, lr=1e-2, weight_decay=1e-4, seed=0,
        log=None)
    if log is not None:
        x, y = make_dataset(5000, TEST_SEED)
        log(f"tabular: held-out accuracy {accuracy(model, (x,), y):.3f} "
            f"(rule's own accuracy {bayes_accuracy():.3f})")
    save_weights(model, WEIGHTS)
    return model


__all__ = [
    "CATEGORICAL", "CLASSES", "FEATURES", "FEATURE_NAMES", "NUMERIC", "TabularNet", "decode",
    "encode", "feature_mask", "labels_of", "load_model", "make_dataset", "make_table", "train",
]
