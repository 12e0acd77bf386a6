"""The widget and the static plots colour a map on the same scale: both use Captum's
cumulative-mass rule, checked against the table that vitest checks the front end with."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from insight_widget.attr.visualization import attribution_scale

CASES = json.loads((pathlib.Path(__file__).resolve().parents[2] / "js" / "tests"
                    / "scale_cases.json").read_text(encoding="utf-8"))
SIGNS = {"all": "all", "absolute": "absolute_value", "positive": "positive",
         "negative": "negative"}


def case_values(spec: dict) -> np.ndarray:
    if "range" in spec:
        low, high = spec["range"]
        return np.arange(low, high + 1, dtype=np.float32)
    return np.concatenate([np.full(count, value, dtype=np.float32)
                           for value, count in spec["repeat"]])


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["name"] for c in CASES["cases"]])
def test_static_plots_scale_like_the_widget(case):
    values = case_values(case["values"]).reshape(-1, 1)  # an (H, 1) map
    for sign, expected in case["expected"].items():
        scale = attribution_scale(values, sign=SIGNS[sign],
                                  outlier_perc=CASES["outlier_percent"])
        assert scale == expected, (case["name"], sign)
