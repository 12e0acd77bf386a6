"""The Ray engine of ``attribute_dataset(engine="ray")``: Ray Data actors attribute, the driver
stores.

``Dataset.map_batches`` runs a pool of ``num_workers`` :class:`AttributionWorker` actors; each
deserialises the attribution method (and so the model) once, in its constructor, and turns
batches into :class:`~.compute.BatchResult` objects, which travel back pickled (one row per
batch, so results of any shape and errors share one column). The driver adds them to the
summary and writes the same shards as the single-process path (:mod:`.store`), so the store
does not depend on the engine. When an actor dies Ray restarts it and retries its batch; the
driver also drops any id it has already received, so every example is stored exactly once.

Two kinds of data:

* a Ray Dataset of examples, with an ``id`` column (``ray.data.range`` has one), an ``inputs``
  column (or ``inputs_0``, ``inputs_1``, ... for several inputs) and optionally ``label``;
  the workers batch it with ``batch_size``;
* anything else ``attribute_dataset`` accepts: the driver reads it batch by batch and hands
  each batch to Ray as one row (so ids and batches are those of the single-process run). The
  batches go through Ray's object store: for data larger than memory, pass a Ray Dataset that
  reads lazily (``ray.data.read_parquet``, ``read_images``, ...).
"""

from __future__ import annotations

import pickle
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch

from ..attr.core import module_of
from .compute import BatchAttributor, method_forward
from .sources import ShapeCheck, SourceBatch, is_ray_dataset, iterate_batches
from .store import SCALE_EXTRA

SOURCE = "source"
RESULT = "result"


def require_ray():
    """The ``ray`` module, or an ImportError naming the extra to install."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise ImportError(f"engine='ray' needs Ray Data, which is not installed: {SCALE_EXTRA} "
                          "(or pip install 'ray[data]').") from None
    return ray


class AttributionWorker:
    """A Ray Data actor: holds one :class:`BatchAttributor` (the model is loaded once) and
    attributes the batches it is given, leaving out the ids in ``done``."""

    def __init__(self, method: Any, settings: Dict[str, Any], done: np.ndarray,
                 threads: int, use_gpu: bool) -> None:
        torch.set_num_threads(max(1, threads))
        self.device = torch.device("cuda") if use_gpu and torch.cuda.is_available() else None
        if self.device is not None:
            model = module_of(method_forward(method))
            if model is not None:
                model.to(self.device)
        self.attributor = BatchAttributor(method, **settings)
        self.done = done

    def _attribute(self, batch: SourceBatch) -> Optional[bytes]:
        if self.done.size:
            keep = ~np.isin(batch.ids().numpy(), self.done)
            if not keep.any():
                return None
            if not keep.all():
                batch = batch.select(torch.from_numpy(np.nonzero(keep)[0]))
        if self.device is not None:
            batch.inputs = tuple(t.to(self.device) for t in batch.inputs)
        shapes = ShapeCheck.of(batch.inputs)  # checked by the driver (deliver)
        try:
            payload: Any = ("ok", batch.describe(), batch.ids(), self.attributor(batch), shapes)
        except Exception as error:  # sent to the driver, which raises or skips per on_error
            payload = ("error", batch.describe(), batch.ids(), error, shapes)
        return pickle.dumps(payload)

    def __call__(self, rows: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        if SOURCE in rows:
            batches = [pickle.loads(blob) for blob in rows[SOURCE]]
        else:
            batches = [_batch_from_columns(rows)]
        results = [r for r in (self._attribute(b) for b in batches) if r is not None]
        return {RESULT: np.array(results, dtype=object)}


def _input_columns(columns: List[str]) -> List[str]:
    if "inputs" in columns:
        return ["inputs"]
    return sorted((c for c in columns if c.startswith("inputs_")), key=lambda c: int(c[7:]))


def _check_columns(columns: List[str]) -> None:
    """Raise ValueError unless a Ray Dataset has the columns the workers read."""
    if "id" not in columns:
        raise ValueError(f"a Ray Dataset given as `data` needs an 'id' column (ray.data.range "
                         f"has one); got columns {sorted(columns)}.")
    if not _input_columns(columns):
        raise ValueError(f"a Ray Dataset given as `data` needs an 'inputs' column (or "
                         f"'inputs_0', 'inputs_1', ...); got columns {sorted(columns)}.")


def _batch_from_columns(rows: Dict[str, np.ndarray]) -> SourceBatch:
    """A SourceBatch from a numpy batch of a Ray Dataset of examples."""
    names = _input_columns(list(rows))
    inputs = tuple(torch.as_tensor(np.ascontiguousarray(rows[n])) for n in names)
    labels = torch.as_tensor(rows["label"]).reshape(-1) if "label" in rows else None
    ids = torch.as_tensor(rows["id"]).to(torch.int64).reshape(-1)
    return SourceBatch(int(ids[0]), ids, inputs, labels, None, len(names) > 1)


def source_rows(data: Any, batch_size: Optional[int]
                ) -> Tuple[List[Dict[str, bytes]], Optional[Tuple[str, torch.Tensor, Exception]]]:
    """One row per batch of the single-process reader (pickled SourceBatch), up to the first
    batch whose example shape differs from the first batch's; that batch's (where, ids,
    ShapeChangeError), or None. The batches before it are attributed and stored, as in the
    single process."""
    rows, check = [], ShapeCheck()
    for batch in iterate_batches(data, batch_size):
        error = check(ShapeCheck.of(batch.inputs))
        if error is not None:
            return rows, (batch.describe(), batch.ids(), error)
        rows.append({SOURCE: pickle.dumps(batch)})
    return rows, None


def ray_results(method: Any, settings: Dict[str, Any], data: Any, *, batch_size: Optional[int],
                done: np.ndarray, num_workers: int, num_gpus: Optional[float],
                address: Optional[str]) -> Iterator[Any]:
    """(where, ids, result, error) per batch, computed by Ray actors (see the module
    docstring). Starts a local Ray (``ray.init()``) unless one is running or ``address``
    names a cluster to join."""
    ray = require_ray()
    if not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 1:
        raise ValueError(f"`num_workers` must be a positive int; got {num_workers!r}.")
    if num_gpus is not None and (not isinstance(num_gpus, (int, float)) or num_gpus < 0):
        raise ValueError(f"`num_gpus` must be a non-negative number or None; got {num_gpus!r}.")
    if not ray.is_initialized():
        ray.init(address=address) if address else ray.init()
    stopped = None
    if is_ray_dataset(data):
        _check_columns(data.schema().names)
        dataset, rows_per_call = data, batch_size or 32
    else:
        rows, stopped = source_rows(data, batch_size)
        # one block per batch so that the actors share the work batch by batch
        dataset = ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
        rows_per_call = 1
    gpus = float(num_gpus or 0)
    mapped = dataset.map_batches(
        AttributionWorker,
        fn_constructor_kwargs={"method": method, "settings": settings, "done": done,
                               "threads": 1, "use_gpu": gpus > 0},
        batch_size=rows_per_call,
        batch_format="numpy",
        concurrency=num_workers,
        num_cpus=1,
        num_gpus=gpus,
        max_restarts=-1,
        max_task_retries=-1,
    )
    seen: set = set()
    check = ShapeCheck()
    for block in mapped.iter_batches(batch_size=None, batch_format="numpy"):
        for blob in block[RESULT]:
            delivered = deliver(blob, seen, check)
            if delivered is not None:
                yield delivered
    if stopped is not None:  # the job commits what came before, then raises naming the batch
        where, ids, error = stopped
        yield where, ids, None, error


def deliver(blob: bytes, seen: set, check: Optional[ShapeCheck] = None
            ) -> Optional[Tuple[str, torch.Tensor, Any, Any]]:
    """(where, ids, result, error) of a worker's reply, without the ids in ``seen`` (a batch
    retried after its worker died may arrive twice); None when nothing is new. ``check``
    compares the batch's example shapes with the first delivered batch's (a Ray Dataset's
    batches are only seen here): a change is a ShapeChangeError for the job to raise."""
    status, where, ids, value, shapes = pickle.loads(blob)
    fresh = _unseen(ids, seen)
    if fresh is None:
        return None
    changed = check(shapes) if check is not None else None
    if changed is not None:
        return where, ids, None, changed
    if status == "error":
        return where, ids, None, value
    if fresh is True:
        return where, ids, value, None
    return where, ids.index_select(0, fresh), value.select(fresh), None


def _unseen(ids: torch.Tensor, seen: set) -> Any:
    """True when no id was delivered before, None when all were, else the rows to keep."""
    flags: List[bool] = [int(i) not in seen for i in ids]
    seen.update(int(i) for i in ids)
    if all(flags):
        return True
    if not any(flags):
        return None
    return torch.tensor([i for i, f in enumerate(flags) if f], dtype=torch.int64)
