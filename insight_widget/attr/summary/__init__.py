"""Summaries of attributions over a dataset (Captum's Summarizer and statistics).

:class:`Summarizer` keeps running statistics (:class:`Mean`, :class:`StdDev`, :class:`Var`,
:class:`MSE`, :class:`Min`, :class:`Max`, :class:`Sum`, :class:`Count`; :func:`CommonStats`)
of the tensors it is updated with; :class:`ClassSummarizer` also keeps them per label.
"""

from .class_summarizer import ClassSummarizer
from .stat import MSE, CommonStats, Count, Max, Mean, Min, StatValue, StdDev, Sum, Var
from .summarizer import Summarizer, SummarizerSingleTensor

__all__ = [
    "MSE",
    "ClassSummarizer",
    "CommonStats",
    "Count",
    "Max",
    "Mean",
    "Min",
    "StatValue",
    "StdDev",
    "Sum",
    "Summarizer",
    "SummarizerSingleTensor",
    "Var",
]
