"""Text attributions as escaped HTML (Captum's ``visualize_text`` and its helpers)."""

from __future__ import annotations

import html
from typing import Any, Iterable, List, Sequence, Union

import numpy as np
from torch import Tensor

from .._utils.validation import describe

try:  # IPython is a dependency of the package; keep the module importable without it
    from IPython.display import HTML, display

    HAS_IPYTHON = True
except ImportError:  # pragma: no cover - exercised only without IPython
    HAS_IPYTHON = False


class VisualizationDataRecord:
    """One row of :func:`visualize_text`: a text's tokens, their attributions, and labels."""

    __slots__ = ["attr_class", "attr_score", "convergence_score", "pred_class", "pred_prob",
                 "raw_input_ids", "true_class", "word_attributions"]

    def __init__(self, word_attributions: Tensor, pred_prob: float, pred_class: int,
                 true_class: int, attr_class: int, attr_score: float,
                 raw_input_ids: List[str], convergence_score: float) -> None:
        self.word_attributions = word_attributions
        self.pred_prob = pred_prob
        self.pred_class = pred_class
        self.true_class = true_class
        self.attr_class = attr_class
        self.attr_score = attr_score
        self.raw_input_ids = raw_input_ids
        self.convergence_score = convergence_score


def _get_color(attr: Any) -> str:
    """Green for positive, red for negative importance; lightness from the magnitude.

    ``attr`` keeps its type (a 0-d tensor or numpy scalar computes in its own precision, as in
    Captum: 50 * float32(0.9) is exactly 45)."""
    attr = max(-1, min(1, attr))  # Captum's clamp (NaN ends up as +1)
    if attr > 0:
        hue, lightness = 120, 100 - int(50 * attr)
    else:
        hue, lightness = 0, 100 - int(-40 * attr)
    return f"hsl({hue}, 75%, {lightness}%)"


def format_classname(classname: Union[str, int]) -> str:
    """A table cell with the (escaped) class name in bold."""
    return f'<td><text style="padding-right:2em"><b>{html.escape(str(classname))}</b></text></td>'


def format_special_tokens(token: str) -> str:
    """``<s>``-style special tokens as ``#s`` (Captum's display of special tokens)."""
    if token.startswith("<") and token.endswith(">"):
        return "#" + token.strip("<>")
    return token


def format_tooltip(item: str, text: str) -> str:
    """``item`` with a hover tooltip showing ``text`` (both escaped)."""
    return (f'<div class="tooltip">{html.escape(str(item))}        <span class="tooltiptext">'
            f"{html.escape(str(text))}</span>        </div>")


def format_word_importances(words: Sequence[str],
                            importances: Union[Sequence[float], np.ndarray, Tensor]) -> str:
    """A table cell with every word highlighted by its importance (words escaped).

    Raises ``ValueError`` for no words or fewer importances than words (extra importances
    are ignored, as in Captum).
    """
    if importances is None or len(importances) == 0 or len(words) == 0:
        raise ValueError(
            f"`words` and `importances` must not be empty; got {len(words)} words and "
            f"{0 if importances is None else len(importances)} importances."
        )
    if len(words) > len(importances):
        raise ValueError(f"`importances` must have one value per word ({len(words)}); got "
                         f"{len(importances)}.")
    cells = ["<td>"]
    for word, importance in zip(words, importances):
        text = html.escape(format_special_tokens(str(word)))
        cells.append(
            f'<mark style="background-color: {_get_color(importance)}; opacity:1.0;'
            f'                     line-height:1.75"><font color="black"> {text}'
            "                    </font></mark>"
        )
    cells.append("</td>")
    return "".join(cells)


_LEGEND = (
    '<div style="border-top: 1px solid; margin-top: 5px;             padding-top: 5px; '
    'display: inline-block"><b>Legend: </b>'
    + "".join(
        '<span style="display: inline-block; width: 10px; height: 10px;                 '
        f'border: 1px solid; background-color:                 {_get_color(value)}"></span>'
        f" {label}  "
        for value, label in zip([-1, 0, 1], ["Negative", "Neutral", "Positive"]))
    + "</div>"
)


_HEADER = ("<tr><th>True Label</th><th>Predicted Label</th><th>Attribution Label</th>"
           "<th>Attribution Score</th><th>Word Importance</th>")


def visualize_text(datarecords: Iterable[VisualizationDataRecord], legend: bool = True
                   ) -> HTML:
    """An HTML table with one row per record: true, predicted and attribution labels, the
    attribution score and the highlighted tokens. Every token and label is HTML-escaped.

    Returns the ``IPython.display.HTML`` object, after displaying it (as Captum does).
    """
    rows = [_HEADER]
    for index, record in enumerate(datarecords):
        if not isinstance(record, VisualizationDataRecord):
            raise TypeError(f"`datarecords`[{index}] must be a VisualizationDataRecord; got "
                            f"{describe(record)}.")
        if len(record.raw_input_ids) == 0:
            raise ValueError(f"`datarecords`[{index}].raw_input_ids is empty: there are no "
                             "tokens to show.")
        rows.append("".join([
            "<tr>",
            format_classname(record.true_class),
            format_classname(f"{record.pred_class} ({record.pred_prob:.2f})"),
            format_classname(record.attr_class),
            format_classname(f"{record.attr_score:.2f}"),
            format_word_importances(record.raw_input_ids, record.word_attributions),
            "<tr>",
        ]))
    markup = "".join(["<table width: 100%>", _LEGEND if legend else "", "".join(rows),
                      "</table>"])
    result = HTML(markup)
    if HAS_IPYTHON:
        display(result)
    return result


__all__ = [
    "VisualizationDataRecord",
    "format_classname",
    "format_special_tokens",
    "format_tooltip",
    "format_word_importances",
    "visualize_text",
]
