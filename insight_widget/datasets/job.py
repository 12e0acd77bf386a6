"""``attribute_dataset``: run an attribution method over a whole dataset.

The job reads the data batch by batch (:mod:`.sources`), attributes each batch
(:mod:`.compute`) in this process or on Ray actors (:mod:`.ray_engine`), adds the results to
the running :class:`~.summary.DatasetSummary` and streams them to Parquet shards
(:mod:`.store`). Memory holds one shard's attributions plus one batch, whatever the size of the
dataset. Re-running with ``resume=True`` reads which ids the committed shards hold and leaves
those examples out, so a crashed job finishes with every example stored exactly once.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from ..attr.core import (
    check_bool,
    check_choice,
    check_optional_int,
    describe,
    get_memory_budget,
)
from .compute import (
    DEFAULT_TARGET_SENTINEL,
    BatchAttributor,
    BatchResult,
    check_target,
    method_forward,
)
from .llm import check_llm_target, is_llm_method, llm_results
from .sources import ShapeChangeError, ShapeCheck, is_ray_dataset, iterate_batches
from .store import AttributionStore, StoreWriter, describe_setting, model_fingerprint
from .summary import DatasetSummary

DEFAULT_SHARD_BYTES = 64 << 20
SUMMARY_BY = ("target", "label", "prediction")


def method_name(method: Any) -> str:
    """``IntegratedGradients``; ``NoiseTunnel(Saliency)`` for a wrapped method."""
    inner = getattr(method, "attribution_method", None)
    if inner is not None:
        return f"{type(method).__name__}({type(inner).__name__})"
    return type(method).__name__


def attribute_dataset(
    method: Any,
    data: Any,
    *,
    target: Any = DEFAULT_TARGET_SENTINEL,
    output: Optional[str] = None,
    batch_size: Optional[int] = None,
    classes: Optional[Sequence[str]] = None,
    engine: str = "local",
    float16: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    on_error: str = "raise",
    summary_by: Optional[str] = "target",
    predictions: bool = True,
    score_func: Optional[Callable[[Tensor], Tensor]] = None,
    convergence_delta: bool = True,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    progress: bool = True,
    num_workers: int = 2,
    num_gpus: Optional[float] = None,
    address: Optional[str] = None,
    **attribute_args: Any,
) -> Union[AttributionStore, DatasetSummary]:
    """Attribute every example of ``data`` with ``method``; store and summarise the results.

    Args:
        method: any attribution object of the engine (primary, layer, neuron, NoiseTunnel,
            LLM), e.g. ``IntegratedGradients(model)``. An LLM method
            (``LLMAttribution``/``LLMGradientAttribution``) takes prompts, one at a time, and
            stores each example's ``seq_attr`` (see :mod:`.llm`).
        data: a torch DataLoader or map-style Dataset, any iterable yielding input tensors,
            ``(inputs, labels)`` pairs, dicts with ``inputs``/``labels`` or
            :class:`~insight_widget.Batch`; or a Ray Dataset (``engine='ray'``; columns
            ``id``, ``inputs``, optionally ``label``); for an LLM method, an iterable of
            ``InterpretableInput``, ``(inp, target)`` pairs or dicts. Examples are identified
            by their position in the stream (the Ray Dataset's ``id`` column), so resuming
            needs the same order.
        target: ``'prediction'`` (default: the model's top class), ``'label'``, a class index,
            a callable ``(inputs, labels) -> target``, or None (methods without a target:
            neuron methods). LLM methods: None (each prompt's own target, else generated) or
            one text.
        output: the store directory (Parquet shards + manifest; needs pyarrow, the ``scale``
            extra). None keeps only the summary, in memory, and needs neither pyarrow nor Ray.
        batch_size: examples per ``attribute`` call (larger incoming batches are split; a
            map-style Dataset is batched with it, default 32).
        classes: class names, recorded in the store and checked when it is reopened.
        engine: ``'local'`` (this process) or ``'ray'`` (Ray Data actors, see
            :func:`insight_widget.datasets.ray_engine.ray_results`).
        float16: store attributions as float16 (the summary is computed before rounding).
        resume: continue a store this job left unfinished (finished shards are kept).
        overwrite: replace an existing store at ``output``.
        on_error: ``'raise'`` (stop, keeping finished shards) or ``'skip'`` when the method
            raises on a batch; skipped example ids are listed in the store (``store.skipped``)
            or in ``summary.skipped``.
        summary_by: key of the per-class summaries: ``'target'`` (the class each map
            explains), ``'label'``, ``'prediction'``, or None (overall summary only).
        predictions: run the model once per batch to store prediction and score.
        score_func: outputs (n, C) -> scores; default softmax over dim 1.
        convergence_delta: store the convergence delta of methods that have one.
        shard_bytes: attributions per shard (bytes); bounds the job's memory.
        progress: show a tqdm bar.
        num_workers, num_gpus, address: Ray engine settings (actors, GPUs per actor, cluster
            address; default: a local ``ray.init()``).
        **attribute_args: passed to ``method.attribute`` (``n_steps``, ``baselines``, ...).

    Returns:
        An :class:`AttributionStore` of ``output``, or the :class:`DatasetSummary` when
        ``output`` is None.
    """
    engine = check_choice("engine", engine, ("local", "ray"))
    on_error = check_choice("on_error", on_error, ("raise", "skip"))
    if summary_by is not None:
        summary_by = check_choice("summary_by", summary_by, SUMMARY_BY)
    for name, value in (("float16", float16), ("resume", resume), ("overwrite", overwrite),
                        ("predictions", predictions), ("progress", progress),
                        ("convergence_delta", convergence_delta)):
        check_bool(name, value)
    batch_size = check_optional_int("batch_size", batch_size, minimum=1)
    check_optional_int("shard_bytes", shard_bytes, minimum=1)
    if resume and overwrite:
        raise ValueError("`resume` and `overwrite` exclude each other; got both True.")
    if classes is not None:
        if isinstance(classes, str) or not all(isinstance(c, str) for c in classes):
            raise TypeError(f"`classes` must be a sequence of class names (str); got "
                            f"{describe(classes)}.")
        classes = list(classes)
    if is_ray_dataset(data) and engine != "ray":
        raise ValueError("`data` is a Ray Dataset; pass engine='ray' to attribute it.")
    llm = is_llm_method(method)
    if llm:
        if engine == "ray":
            raise ValueError("engine='ray' does not take LLM attribution methods; use "
                             "engine='local' (one prompt at a time).")
        target = check_llm_target(target)
    else:
        target = check_target(method, target)
    forward = method_forward(method)
    settings = dict(target=target, attribute_args=attribute_args, predictions=predictions,
                    score_func=score_func, convergence_delta=convergence_delta)
    attributor = None if llm else BatchAttributor(method, **settings)

    writer: Optional[StoreWriter] = None
    if output is not None:
        header = {
            "method": method_name(method),
            "model": model_fingerprint(forward),
            "classes": classes,
            "target": describe_setting(target if target is not None else None),
            "attribute_args": describe_setting(attribute_args),
            "summary_by": summary_by,
            "float16": float16,
        }
        writer = StoreWriter(output, header, resume=resume, overwrite=overwrite,
                             shard_bytes=shard_bytes, float16=float16)
        if writer.complete:
            return AttributionStore(output)
    summary = writer.load_summary() if writer is not None else DatasetSummary()
    done = writer.done_ids() if writer is not None else np.zeros(0, dtype=np.int64)
    skipped: List[int] = []
    guard = _ClassMemoryGuard()

    if engine == "ray":
        from .ray_engine import ray_results

        stream = ray_results(method, settings, data, batch_size=batch_size, done=done,
                             num_workers=num_workers, num_gpus=num_gpus,
                             address=address)
    elif llm:
        stream = llm_results(method, data, target, attribute_args, done)
    else:
        assert attributor is not None
        stream = _local_results(attributor, data, batch_size, done, on_error)

    bar = _progress_bar(progress, data, method_name(method))
    try:
        for where, ids, result, error in stream:
            if error is not None:
                if on_error == "raise" or isinstance(error, ShapeChangeError):
                    if writer is not None:
                        writer.flush(summary, wait=True)
                    kept = "; finished shards are kept (rerun with resume=True)" \
                        if writer is not None else ""
                    if isinstance(error, ShapeChangeError):
                        raise ValueError(f"`data` {where}: {error}{kept}.") from None
                    message = str(error).rstrip(".")
                    raise RuntimeError(f"{method_name(method)} raised on {where}: "
                                       f"{type(error).__name__}: {message}{kept}.") from error
                warnings.warn(f"skipped {where}: {type(error).__name__}: {error}",
                              RuntimeWarning, stacklevel=2)
                skipped.extend(int(i) for i in ids)
                if writer is not None:
                    writer.skip(ids, where, error)
                bar.update(int(ids.numel()))
                continue
            assert result is not None
            summary.update(result.attributions, _classes_of(result, summary_by),
                           is_tuple=len(result.attributions) > 1)
            guard.check(summary, writer, result)
            if writer is not None:
                writer.add(result, summary)
            bar.update(result.size)
    except BaseException:
        if writer is not None:
            writer.abandon()  # what was queued is committed; the open shard is dropped
        raise
    finally:
        bar.close()
    if writer is None:
        summary.skipped = skipped
        return summary
    writer.finish(summary)
    return AttributionStore(output)


def _classes_of(result: BatchResult, summary_by: Optional[str]) -> Optional[Tensor]:
    if summary_by is None:
        return None
    return {"target": result.targets, "label": result.labels,
            "prediction": result.predictions}[summary_by]


class _ClassMemoryGuard:
    """Per-class summaries cost classes x features x 80 bytes; stop before they outgrow the
    memory budget (``insight_widget.attr.set_memory_budget``)."""

    def check(self, summary: DatasetSummary, writer: Optional[StoreWriter],
              result: BatchResult) -> None:
        classes = len(summary.class_keys)
        if not classes:
            return
        features = sum(a[0].numel() for a in result.attributions)
        needed = (classes + 1) * features * 80
        if needed > get_memory_budget():
            if writer is not None:
                writer.flush(summary, wait=True)
            raise ValueError(
                f"per-class summaries of {classes} classes x {features} features "
                f"need {needed / 2**20:.0f} MiB, over the memory budget "
                f"({get_memory_budget() / 2**20:.0f} MiB); pass summary_by=None (overall "
                "summary only) or raise the budget with set_memory_budget."
            )


Stream = Iterator[Tuple[str, Tensor, Optional[BatchResult], Optional[BaseException]]]


def _local_results(attributor: BatchAttributor, data: Any, batch_size: Optional[int],
                   done: np.ndarray, on_error: str) -> Stream:
    """(where, ids, result, error) per batch, computed in this process; examples in ``done``
    are left out. A batch whose example shape differs from the first batch's is an error
    (raised through the stream so that finished shards are committed first)."""
    check = ShapeCheck()
    for batch in iterate_batches(data, batch_size):
        error = check(ShapeCheck.of(batch.inputs))
        if error is not None:
            yield batch.describe(), batch.ids(), None, error
            return
        if done.size:
            keep = ~np.isin(batch.ids().numpy(), done)
            if not keep.any():
                continue
            if not keep.all():
                batch = batch.select(torch.from_numpy(np.nonzero(keep)[0]))
        try:
            result = attributor(batch)
        except Exception as error:  # reported or re-raised by the job per `on_error`
            yield batch.describe(), batch.ids(), None, error
            continue
        yield batch.describe(), batch.ids(), result, None


def _progress_bar(show: bool, data: Any, title: str):
    from tqdm.auto import tqdm

    total: Optional[int] = None
    dataset = getattr(data, "dataset", None)
    try:
        total = len(dataset) if dataset is not None else None
    except TypeError:
        total = None
    return tqdm(total=total, disable=not show, unit="example", desc=title)

