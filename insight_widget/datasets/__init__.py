"""Attribution over whole datasets: stream results to Parquet, summarise, scale out with Ray.

>>> store = attribute_dataset(IntegratedGradients(model), loader, output="ig-test-set",
...                           n_steps=32)
>>> store.summary.per_class[3].as_dict()["abs_mean"]      # mean |attribution| per pixel
>>> AttributionStore("ig-test-set").examples()            # ids, labels, predictions, scores

:func:`attribute_dataset` runs in this process by default (no pyarrow needed without
``output``, no Ray) or on Ray Data actors (``engine="ray"``, the ``scale`` extra). See
``docs/dataset.md``.
"""

from .browse import StoreBrowser, plot_class_summaries
from .evaluate import evaluate_store, mean_metrics
from .job import attribute_dataset
from .store import AttributionStore
from .summary import DatasetSummary, FeatureSummary, Moments

__all__ = ["AttributionStore", "DatasetSummary", "FeatureSummary", "Moments", "StoreBrowser",
           "attribute_dataset", "evaluate_store", "mean_metrics", "plot_class_summaries"]
