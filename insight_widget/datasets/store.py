"""The attribution store: Parquet shards plus a manifest, written atomically, read lazily.

Layout of a store directory::

    manifest.json          what was computed (method, model fingerprint, classes, settings),
                           the committed shards, skipped examples, whether the job finished
    summary-NNNNN.npz      the DatasetSummary of exactly the committed shards
    shards/part-NNNNN.parquet
        id (int64), label, prediction, target (int64, null when unknown), score (float32),
        attribution (or attribution_0, attribution_1, ... for several inputs/layer outputs):
        pyarrow FixedShapeTensorType of float32 or float16, one tensor per example,
        delta (float32, methods with a convergence delta)

A shard is written to a temporary file and renamed; then the summary; then the manifest is
replaced (``os.replace``, atomic on POSIX), which is the commit. A crash leaves at most an
uncommitted shard file, which a resumed job deletes, so every example is stored exactly once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Deque, Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from ..attr.core import module_of
from .compute import BatchResult
from .summary import DatasetSummary

FORMAT = "insight_widget.datasets/1"
MANIFEST = "manifest.json"
SHARDS = "shards"
SCALE_EXTRA = "pip install 'insight-widget[scale]'"
ROW_GROUP_BYTES = 1 << 20  # maps written per Parquet row group while a shard fills


def require_pyarrow():
    """pyarrow (and its parquet module), or an ImportError naming the extra to install."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ImportError(f"attribution stores are Parquet files written with pyarrow, which is "
                          f"not installed: {SCALE_EXTRA} (or pip install pyarrow).") from None
    return pyarrow


# -- identity of what was computed ---------------------------------------------------------------
def model_fingerprint(forward_func: Any) -> Dict[str, str]:
    """Class name and a hash of the parameters and buffers of the model behind
    ``forward_func`` (just the callable's qualified name for plain functions)."""
    model = module_of(forward_func)
    if model is None:
        name = getattr(forward_func, "__qualname__", type(forward_func).__name__)
        return {"class": name, "fingerprint": ""}
    digest = hashlib.blake2b(digest_size=16)
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        tensor = value.detach().to("cpu").contiguous()
        digest.update(str((tuple(tensor.shape), tensor.dtype)).encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return {"class": type(model).__name__, "fingerprint": digest.hexdigest()}


def describe_setting(value: Any) -> Any:
    """A JSON-able description of an attribute() argument (tensors by shape and hash)."""
    if isinstance(value, Tensor):
        data = value.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy()
        return {"tensor": list(value.shape), "dtype": str(value.dtype),
                "hash": hashlib.blake2b(data.tobytes(), digest_size=8).hexdigest()}
    if isinstance(value, (tuple, list)):
        return [describe_setting(v) for v in value]
    if isinstance(value, dict):
        return {str(k): describe_setting(v) for k, v in sorted(value.items())}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return getattr(value, "__qualname__", None) or type(value).__name__


def check_same(manifest: Dict[str, Any], header: Dict[str, Any], path: str) -> None:
    """Raise ValueError naming the first difference between a store and a job or reader."""
    for key, value in header.items():
        stored = manifest.get(key)
        if stored != value:
            raise ValueError(
                f"the store at {path!r} was written with a different {key.replace('_', ' ')}: "
                f"stored {stored!r}, now {value!r}. Use another output, or overwrite=True to "
                "start again."
            )


# -- writing ---------------------------------------------------------------------------------------
def _atomic_write(path: str, data: bytes) -> None:
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _int_column(pa, values: Optional[Tensor], n: int):
    if values is None:
        return pa.nulls(n, pa.int64())
    return pa.array(values.numpy(), pa.int64())


def _float_column(pa, values: Optional[Tensor], n: int):
    if values is None:
        return pa.nulls(n, pa.float32())
    return pa.array(values.numpy(), pa.float32())


def attribution_columns(count: int) -> List[str]:
    return ["attribution"] if count == 1 else [f"attribution_{i}" for i in range(count)]


def to_table(result: BatchResult, float16: bool):
    """A pyarrow table of ``result`` in the store's schema."""
    pa = require_pyarrow()
    n = result.size
    columns = {
        "id": pa.array(result.ids.numpy(), pa.int64()),
        "label": _int_column(pa, result.labels, n),
        "prediction": _int_column(pa, result.predictions, n),
        "score": _float_column(pa, result.scores, n),
        "target": _int_column(pa, result.targets, n),
        "delta": _float_column(pa, result.deltas, n),
    }
    dtype = np.float16 if float16 else np.float32
    for name, tensor in zip(attribution_columns(len(result.attributions)), result.attributions):
        array = np.ascontiguousarray(tensor.numpy().astype(dtype, copy=False))
        if array.ndim == 1:  # one number per example: a tensor of shape (1,)
            array = array.reshape(-1, 1)
        columns[name] = pa.FixedShapeTensorArray.from_numpy_ndarray(array)
    return pa.table(columns)


class _OpenShard:
    """A shard file being written: its name, temporary path, pyarrow writer and ids."""

    def __init__(self, name: str, temporary: str, writer: Any) -> None:
        self.name, self.temporary, self.writer = name, temporary, writer
        self.rows, self.first_id, self.last_id = 0, None, None

    def add(self, ids: Tensor) -> None:
        low, high = int(ids.min()), int(ids.max())
        self.rows += int(ids.numel())
        self.first_id = low if self.first_id is None else min(self.first_id, low)
        self.last_id = high if self.last_id is None else max(self.last_id, high)


class StoreWriter:
    """Writes a job's results to ``path`` shard by shard (see the module docstring).

    Args:
        path: the store directory.
        header: what identifies the job (method, model, classes, settings); a resumed store
            must have been written with the same.
        resume: continue a store written by the same job (finished shards are kept).
        overwrite: delete an existing store at ``path`` first.
        shard_bytes: a shard is written once its attributions reach this size.
        float16: store attributions as float16 (half the disk; summaries stay exact float64).
    """

    def __init__(self, path: str, header: Dict[str, Any], *, resume: bool, overwrite: bool,
                 shard_bytes: int, float16: bool) -> None:
        require_pyarrow()
        self.path = os.fspath(path)
        self.shard_bytes = shard_bytes
        self.float16 = float16
        self._buffer: List[BatchResult] = []
        self._buffered = 0  # bytes of maps in the buffer
        self._shard_size = 0  # bytes of maps of the shard being written (buffer included)
        self._pending_skips: List[Dict[str, Any]] = []
        self._executor: Optional[ThreadPoolExecutor] = None
        self._tasks: Deque[Future] = deque()
        self._open: Optional[_OpenShard] = None  # the writer thread's shard in progress
        self._failed: Optional[BaseException] = None
        manifest_path = os.path.join(self.path, MANIFEST)
        existing = os.path.isdir(self.path) and os.listdir(self.path)
        if existing and not (resume or overwrite):
            raise ValueError(f"`output` {self.path!r} is not empty; pass resume=True to continue "
                             "the job written there, or overwrite=True to replace it.")
        if existing and resume and not os.path.exists(manifest_path):
            raise ValueError(f"`output` {self.path!r} holds files that are not an attribution "
                             "store; resume=True continues a store. Choose an empty or new "
                             "directory.")
        if existing and overwrite:
            if not os.path.exists(manifest_path):
                raise ValueError(f"`output` {self.path!r} holds files that are not an "
                                 "attribution store; overwrite=True only replaces a store. "
                                 "Choose an empty or new directory.")
            shutil.rmtree(self.path)
        resuming = os.path.exists(manifest_path)
        if resuming:
            with open(manifest_path) as handle:
                self.manifest = json.load(handle)
            check_same(self.manifest, header, self.path)
        else:
            self.manifest = {"format": FORMAT, **header, "shards": [], "skipped": [],
                             "summary": None, "complete": False}
        try:
            os.makedirs(os.path.join(self.path, SHARDS), exist_ok=True)
            if resuming:
                _atomic_write(os.path.join(self.path, ".write-test"), b"")
                os.remove(os.path.join(self.path, ".write-test"))
            else:
                self._commit()  # the first manifest is the test that the store is writable
        except OSError as error:
            raise ValueError(f"`output` {self.path!r} is not a writable directory: {error}."
                             ) from None
        if resuming:
            self._remove_uncommitted()

    # -- resuming ---------------------------------------------------------------------------
    def _remove_uncommitted(self) -> None:
        committed = {shard["file"] for shard in self.manifest["shards"]}
        for name in os.listdir(os.path.join(self.path, SHARDS)):
            if os.path.join(SHARDS, name) not in committed:
                os.remove(os.path.join(self.path, SHARDS, name))
        for name in os.listdir(self.path):
            if name.startswith("summary-") and name != self.manifest["summary"]:
                os.remove(os.path.join(self.path, name))

    def done_ids(self) -> np.ndarray:
        """Sorted ids already stored or skipped (a resumed job leaves them out)."""
        pa = require_pyarrow()
        parts = [np.asarray(ids, dtype=np.int64) for skip in self.manifest["skipped"]
                 for ids in [skip["ids"]]]
        for shard in self.manifest["shards"]:
            table = pa.parquet.read_table(os.path.join(self.path, shard["file"]), columns=["id"])
            parts.append(table.column("id").to_numpy())
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def load_summary(self) -> DatasetSummary:
        name = self.manifest["summary"]
        if name is None:
            return DatasetSummary()
        with open(os.path.join(self.path, name), "rb") as handle:
            return DatasetSummary.from_bytes(handle.read())

    # -- writing ----------------------------------------------------------------------------
    # Parquet is written by one background thread (pyarrow releases the GIL) while the next
    # batches are computed: results are written as row groups of the open shard as soon as
    # ROW_GROUP_BYTES accumulate, so closing a shard only writes its last group and footer.
    # At most two tasks are queued, bounding memory to a few row groups beyond the buffer.
    @property
    def complete(self) -> bool:
        return bool(self.manifest["complete"])

    def add(self, result: BatchResult, summary: DatasetSummary) -> None:
        """Buffer ``result`` (already added to ``summary``); write a row group when
        ``ROW_GROUP_BYTES`` are buffered and commit the shard when it is full."""
        shapes = [list(a.shape[1:]) for a in result.attributions]
        known = self.manifest.get("attribution_shapes")
        if known is None:
            self.manifest["attribution_shapes"] = shapes
        elif known != shapes:
            raise ValueError(f"attributions of examples {int(result.ids[0])}-"
                             f"{int(result.ids[-1])} have shapes {shapes}; the store holds "
                             f"{known}.")
        self._buffer.append(result)
        size = sum(a.numel() * a.element_size() for a in result.attributions)
        self._buffered += size
        self._shard_size += size
        if self._shard_size >= self.shard_bytes:
            self.flush(summary)
        elif self._buffered >= min(ROW_GROUP_BYTES, self.shard_bytes):
            self._submit_group()

    def skip(self, ids: Tensor, where: str, error: BaseException) -> None:
        """Record examples whose batch failed (committed with the next shard)."""
        self._pending_skips.append({"ids": [int(i) for i in ids], "batch": where,
                                    "error": f"{type(error).__name__}: {error}"[:500]})

    def flush(self, summary: DatasetSummary, wait: bool = False) -> None:
        """Commit the results added so far (if any) and pending skips with ``summary``.
        ``wait=True`` returns only once everything is committed."""
        if self._buffer or self._shard_size or self._pending_skips:
            self._submit_group()
            job = (summary.to_bytes(), self._pending_skips)
            self._pending_skips, self._shard_size = [], 0
            self._submit(self._commit_shard, *job)
        if wait:
            self.wait()

    def _submit_group(self) -> None:
        if not self._buffer:
            return
        result = self._buffer[0] if len(self._buffer) == 1 else BatchResult.concat(self._buffer)
        self._buffer, self._buffered = [], 0
        self._submit(self._write_group, result)

    def _submit(self, task: Any, *args: Any) -> None:
        while len(self._tasks) >= 2:
            self._tasks.popleft().result()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="store-writer")
        self._tasks.append(self._executor.submit(task, *args))

    def wait(self) -> None:
        """Block until the queued writes and commits are done (re-raising the first error)."""
        error: Optional[BaseException] = None
        while self._tasks:
            try:
                self._tasks.popleft().result()
            except BaseException as failure:  # the rest still finish (or are skipped)
                error = error or failure
        if error is not None:
            raise error

    def abandon(self) -> None:
        """The job stopped: finish what was queued (commits included), then delete the
        shard left open (uncommitted: its examples are computed again on resume)."""
        try:
            self.wait()
        finally:
            self._close_open(keep=False)
            self._shutdown()

    # -- the writer thread ------------------------------------------------------------------
    def _write_group(self, result: BatchResult) -> None:
        if self._failed is not None:
            return
        try:
            pa = require_pyarrow()
            table = to_table(result, self.float16)
            if self._open is None:
                number = len(self.manifest["shards"])
                name = os.path.join(SHARDS, f"part-{number:05d}.parquet")
                temporary = os.path.join(self.path, f"{name}.tmp-{os.getpid()}")
                # float maps barely compress and have no repeated values: no compression, no
                # dictionary encoding (tried and abandoned per page, it took 3/4 of the write
                # time) and no min/max statistics for them; the small columns get all three
                maps = [c for c in table.column_names if c.startswith("attribution")]
                small = [c for c in table.column_names if c not in maps]
                codecs = {c: "none" if c in maps else "snappy" for c in table.column_names}
                self._open = _OpenShard(name, temporary, pa.parquet.ParquetWriter(
                    temporary, table.schema, compression=codecs, use_dictionary=small,
                    write_statistics=small))
            self._open.writer.write_table(table)
            self._open.add(result.ids)
        except BaseException as error:
            self._failed = error  # no later commit may include this shard
            raise

    def _commit_shard(self, summary: bytes, skips: List[Dict[str, Any]],
                      complete: bool = False) -> None:
        if self._failed is not None:
            raise RuntimeError(f"the store writer failed earlier: {self._failed}")
        if self._open is not None:
            shard = self._open
            self._close_open(keep=True)
            self.manifest["shards"].append({"file": shard.name, "rows": shard.rows,
                                            "first_id": shard.first_id,
                                            "last_id": shard.last_id})
        self.manifest["skipped"].extend(skips)
        previous = self.manifest["summary"]
        name = f"summary-{len(self.manifest['shards']):05d}-{len(self.manifest['skipped'])}.npz"
        _atomic_write(os.path.join(self.path, name), summary)
        self.manifest["summary"] = name
        self.manifest["complete"] = complete
        self._commit()
        if previous is not None and previous != name:
            os.remove(os.path.join(self.path, previous))

    def _close_open(self, keep: bool) -> None:
        shard, self._open = self._open, None
        if shard is None:
            return
        shard.writer.close()
        if keep:
            os.replace(shard.temporary, os.path.join(self.path, shard.name))
        elif os.path.exists(shard.temporary):
            os.remove(shard.temporary)

    def _shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    def finish(self, summary: DatasetSummary) -> None:
        """Commit the last shard, the summary and ``complete`` in one manifest write."""
        self._submit_group()
        self._submit(self._commit_shard, summary.to_bytes(), self._pending_skips, True)
        self._pending_skips, self._shard_size = [], 0
        self.wait()
        self._shutdown()

    def _commit(self) -> None:
        _atomic_write(os.path.join(self.path, MANIFEST),
                      json.dumps(self.manifest, indent=1).encode())


# -- reading ---------------------------------------------------------------------------------------
class AttributionStore:
    """A store written by :func:`~insight_widget.datasets.attribute_dataset`, read lazily.

    Args:
        path: the store directory.
        model: when given, the store must have been written with this model (same class and
            parameters), else ValueError.
        classes: when given, the store must have been written with this class list.
    """

    def __init__(self, path: str, model: Any = None, classes: Optional[Sequence[str]] = None
                 ) -> None:
        self.path = os.fspath(path)
        manifest_path = os.path.join(self.path, MANIFEST)
        if not os.path.isfile(manifest_path):
            raise ValueError(f"`path` {self.path!r} is not an attribution store (no "
                             f"{MANIFEST}).")
        with open(manifest_path) as handle:
            self.manifest: Dict[str, Any] = json.load(handle)
        if self.manifest.get("format") != FORMAT:
            raise ValueError(f"`path` {self.path!r} holds format {self.manifest.get('format')!r}"
                             f"; this version reads {FORMAT!r}.")
        expected: Dict[str, Any] = {}
        if model is not None:
            expected["model"] = model_fingerprint(model)
        if classes is not None:
            expected["classes"] = list(classes)
        check_same(self.manifest, expected, self.path)
        self._summary: Optional[DatasetSummary] = None

    def __len__(self) -> int:
        return sum(shard["rows"] for shard in self.manifest["shards"])

    def __repr__(self) -> str:
        state = "complete" if self.complete else "incomplete"
        return (f"AttributionStore({self.path!r}: {len(self)} examples, {self.method}, "
                f"{state})")

    @property
    def complete(self) -> bool:
        return bool(self.manifest["complete"])

    @property
    def method(self) -> str:
        return self.manifest["method"]

    @property
    def classes(self) -> Optional[List[str]]:
        return self.manifest.get("classes")

    @property
    def skipped(self) -> List[int]:
        """Ids of examples whose batch raised (``on_error='skip'``)."""
        return sorted(i for skip in self.manifest["skipped"] for i in skip["ids"])

    @property
    def attribution_columns(self) -> List[str]:
        return attribution_columns(len(self.manifest.get("attribution_shapes") or [[]]))

    @property
    def summary(self) -> DatasetSummary:
        """The :class:`DatasetSummary` of every stored example."""
        if self._summary is None:
            name = self.manifest["summary"]
            if name is None:
                self._summary = DatasetSummary()
            else:
                with open(os.path.join(self.path, name), "rb") as handle:
                    self._summary = DatasetSummary.from_bytes(handle.read())
        return self._summary

    def _files(self) -> List[str]:
        return [os.path.join(self.path, shard["file"]) for shard in self.manifest["shards"]]

    def examples(self, columns: Sequence[str] = ("id", "label", "prediction", "score",
                                                 "target", "delta")):
        """A pyarrow table of per-example columns without the attributions (cheap: Parquet
        reads only the columns asked for)."""
        pa = require_pyarrow()
        tables = [pa.parquet.read_table(f, columns=list(columns)) for f in self._files()]
        return pa.concat_tables(tables) if tables else None

    def iter_batches(self, columns: Optional[Sequence[str]] = None, batch_size: int = 256
                     ) -> Iterator[Any]:
        """pyarrow RecordBatches of the store in id order within each shard, memory bounded."""
        pa = require_pyarrow()
        for file in self._files():
            yield from pa.parquet.ParquetFile(file).iter_batches(
                batch_size=batch_size, columns=None if columns is None else list(columns))

    def attributions(self, ids: Sequence[int]) -> tuple:
        """The stored attributions (float32 tensors, one per attribution column, rows in the
        order of ``ids``) of the examples ``ids``; reads only the shards holding them."""
        pa = require_pyarrow()
        wanted = np.asarray(list(ids), dtype=np.int64)
        columns = self.attribution_columns
        found: Dict[int, List[np.ndarray]] = {}
        for shard, file in zip(self.manifest["shards"], self._files()):
            inside = wanted[(wanted >= shard["first_id"]) & (wanted <= shard["last_id"])]
            if not inside.size:
                continue
            table = pa.parquet.read_table(file, columns=["id", *columns],
                                          filters=[("id", "in", inside.tolist())])
            table_ids = table.column("id").to_numpy()
            arrays = [_tensor_column(table.column(c)) for c in columns]
            for row, example in enumerate(table_ids):
                found[int(example)] = [a[row] for a in arrays]
        missing = [int(i) for i in wanted if int(i) not in found]
        if missing:
            raise KeyError(f"examples {missing[:10]} are not in the store {self.path!r}.")
        return tuple(torch.from_numpy(np.stack([found[int(i)][c] for i in wanted])
                                      .astype(np.float32))
                     for c in range(len(columns)))


def _tensor_column(column: Any) -> np.ndarray:
    """A FixedShapeTensor column as one ndarray (n, *shape)."""
    return column.combine_chunks().to_numpy_ndarray()
