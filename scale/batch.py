"""Run a "load the model once, then batch -> vectors" pair over many items on Ray.

The items are rows (dicts of plain values: paths, texts, expected keys) with an `index`
column. They become a Ray Dataset; `map_batches` sends batches of `rows_per_batch` rows to a
pool of actors (`scale.specs.ActorPoolSpec`), each of which calls the factory once to load
its model and then the returned encoder on every batch. The actor writes each batch's vectors
as one shard of a `contract.vectors.VectorStore` in `folder` (so that folder must be a path
every node can read and write: a shared file system on a real cluster) and sends back only
the keys, errors and shard names. The driver reports progress as batches come back; when the
progress callable raises (a cancelled job), the dataset's execution is shut down, which ends
the actors, and the exception goes on to the caller.

The factory and encoder contract (see `VectorEncoder`) is what the image embedding
(`extension.images.store`) and text-vector (`encoders.ray`) jobs provide;
both are shipped to the workers by pickling, so the workbench must be installed there.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contract.devices import check_device_name
from contract.progress import Progress, no_progress
from contract.vectors import VectorStore
from scale.cluster import connect_ray
from scale.specs import ActorPoolSpec

# An encoder maps a batch (column -> (B,) array of the rows' values) to
# {'key': (B,) hex sha256 str, '' where the row could not be encoded,
#  'error': (B,) str, '' where it could, 'features': (B, D) float32 (rows without a key ignored)}.
VectorEncoder = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
# A factory is called once per actor with (device 'cpu' | 'cuda', threads) and returns the
# encoder; it must pickle (a module-level class holding the model, say).
EncoderFactory = Callable[[str, int], VectorEncoder]
# At most this many input blocks (a huge job still gets batches of rows_per_batch rows).
_MAX_BLOCKS = 4096
# 'ValueError: message', 'pkg.mod.SomeException: message' (a traceback's last line).
_TYPED_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit): ")


@dataclass(frozen=True)
class VectorJobResult:
    """What `run_vector_job` did.

    Attributes:
        keys: row index -> the key its vector is stored under (rows that failed are absent).
        errors: row index -> one line saying why the row has no vector.
        n_written: vectors this job wrote (a key met twice in one batch is written once).
        shards: names of the shard files written, in `folder`.
        actors, cpus_per_actor, gpus_per_actor, device: the pool that ran.
        seconds_connect: reaching Ray (starting a local instance or joining a cluster).
        seconds_first_batch: from submitting the dataset to the first batch back (actor
            start, model load, one batch).
        seconds_total: the whole call.
    """

    keys: dict[int, str]
    errors: dict[int, str]
    n_written: int
    shards: tuple[str, ...]
    actors: int
    cpus_per_actor: float
    gpus_per_actor: float
    device: str
    seconds_connect: float
    seconds_first_batch: float
    seconds_total: float


def run_vector_job(
    rows: Sequence[dict],
    factory: EncoderFactory,
    folder: Path,
    *,
    address: str = "",
    pool: ActorPoolSpec | None = None,
    device: str = "auto",
    rows_per_batch: int = 256,
    progress: Progress | None = None,
    unit: str = "items",
    local_cpus: int | None = None,
) -> VectorJobResult:
    """Encode every row on a pool of Ray actors; the actors write the vectors into `folder`.

    Args:
        rows: (N,) dicts of plain values with a distinct int 'index' each.
        factory: loads the model once per actor and returns its encoder (`EncoderFactory`).
        folder: the `VectorStore` folder; made absolute here, so it must be the same path
            on every node.
        address: '' (a local instance), 'auto', 'HOST:PORT' or 'ray://HOST:PORT'.
        device: 'auto' (GPU actors when the cluster has GPUs), 'cpu' or 'cuda'.
        rows_per_batch: rows per actor call, and per shard.
        unit: the word for the rows in progress messages ('images', 'texts').
        local_cpus: CPUs of a local instance (None: all of this machine's).

    Returns:
        Keys and errors per row, shards written, the pool and timings.

    Raises:
        ValueError: bad arguments, or a pool the cluster cannot hold.
        RuntimeError: Ray missing or unreachable, a failure inside a batch (its error line),
            or shards that this machine cannot see (the folder is not shared).
        Whatever `progress` raises (the work is stopped first).
    """
    started = time.perf_counter()
    pool, progress = pool or ActorPoolSpec(), progress or no_progress
    check_device_name(device)
    _check_rows(rows, rows_per_batch)
    folder = Path(folder).resolve()
    if not rows:
        return VectorJobResult({}, {}, 0, (), 0, pool.cpus_per_actor, 0.0, "cpu", 0, 0, 0)
    progress(0.0, "connecting to Ray" if address else "starting a local Ray instance")
    with connect_ray(address, num_cpus=local_cpus) as ray:
        connected = time.perf_counter()
        actor_device, gpus = compute_pool_resources(ray.cluster_resources(), pool, device)
        dataset = _make_dataset(
            ray, rows, factory, folder, pool, actor_device, gpus, rows_per_batch
        )
        progress(0.0, f"starting {pool.actors} Ray actor(s) on {actor_device}")
        collected = _collect(dataset, len(rows), pool.actors, unit, progress)
    missing = sorted(s for s in collected["shards"] if not (folder / s).is_file())
    if missing:
        raise RuntimeError(
            f"the Ray workers wrote {len(missing)} shard(s) to {folder} that this machine cannot "
            "see: the cache folder must be a path every node can read (a shared file system)"
        )
    return VectorJobResult(
        keys=collected["keys"],
        errors=collected["errors"],
        n_written=collected["written"],
        shards=tuple(sorted(collected["shards"])),
        actors=pool.actors,
        cpus_per_actor=pool.cpus_per_actor,
        gpus_per_actor=gpus,
        device=actor_device,
        seconds_connect=connected - started,
        seconds_first_batch=collected["first"] - connected,
        seconds_total=time.perf_counter() - started,
    )


def _check_rows(rows: Sequence[dict], rows_per_batch: int) -> None:
    if rows_per_batch < 1:
        raise ValueError(f"rows_per_batch must be >= 1, got {rows_per_batch}")
    indices = [row.get("index") for row in rows]
    if any(not isinstance(i, int) for i in indices) or len(set(indices)) != len(indices):
        raise ValueError("every row needs a distinct int 'index'")


def compute_pool_resources(cluster: dict, pool: ActorPoolSpec, device: str) -> tuple[str, float]:
    """The actors' device and GPUs each, for a cluster's resources (`ray.cluster_resources()`).

    Raises:
        ValueError: 'cuda' without GPUs, 'cpu' with GPUs asked for, or a pool larger than
            the cluster (the message gives both sizes).
    """
    cpus, gpus = float(cluster.get("CPU", 0)), float(cluster.get("GPU", 0))
    per_actor = pool.gpus_per_actor
    if per_actor is None:
        per_actor = 1.0 if gpus >= 1 and device != "cpu" else 0.0
    if device == "cuda" and per_actor == 0:
        raise ValueError(
            f"device 'cuda' was asked for but the actors get no GPU (the Ray cluster has "
            f"{gpus:g} GPUs; set gpus_per_actor > 0 or use device 'cpu')"
        )
    if device == "cpu" and per_actor > 0:
        raise ValueError("device 'cpu' contradicts gpus_per_actor > 0; choose one")
    need_cpus, need_gpus = pool.actors * pool.cpus_per_actor, pool.actors * per_actor
    if need_cpus > cpus or need_gpus > gpus:
        raise ValueError(
            f"{pool.actors} actor(s) with {pool.cpus_per_actor:g} CPU(s) and {per_actor:g} "
            f"GPU(s) each need {need_cpus:g} CPUs and {need_gpus:g} GPUs, but the Ray cluster "
            f"has {cpus:g} CPUs and {gpus:g} GPUs; use fewer or smaller actors"
        )
    return ("cuda" if per_actor > 0 else "cpu"), per_actor


def _make_dataset(ray, rows, factory, folder, pool, device, gpus, rows_per_batch):
    """The lazy dataset: rows -> map_batches over the actor pool -> (index, key, error, ...)."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # progress goes to the job's own callable
    context.print_on_execution_start = False
    blocks = min(math.ceil(len(rows) / rows_per_batch), _MAX_BLOCKS)
    dataset = ray.data.from_items(list(rows), override_num_blocks=blocks)
    return dataset.map_batches(
        _VectorActor,
        fn_constructor_kwargs={
            # Inside a list, so the actor fetches the (large) factory from the object store
            # once instead of Ray inlining it into every actor's creation.
            "factory_ref": [ray.put(factory)],
            "folder": str(folder),
            "device": device,
            "threads": max(1, int(pool.cpus_per_actor)),
        },
        batch_size=rows_per_batch,
        compute=ray.data.ActorPoolStrategy(size=pool.actors),
        num_cpus=pool.cpus_per_actor,
        num_gpus=gpus,
        batch_format="numpy",
    )


def _collect(dataset, total: int, actors: int, unit: str, progress: Progress) -> dict:
    """Consume the dataset's output, reporting progress; stop the work if progress raises."""
    out = {"keys": {}, "errors": {}, "shards": set(), "written": 0, "first": None}
    started = time.perf_counter()
    iterator = iter(dataset.iter_batches(batch_size=None, batch_format="numpy"))
    try:
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                break
            except Exception as exc:  # a failure inside a batch, raised by Ray
                raise RuntimeError(f"the Ray job failed: {_describe_failure(exc)}") from exc
            out["first"] = out["first"] or time.perf_counter()
            _add_batch(out, batch)
            done = len(out["keys"]) + len(out["errors"])
            rate = done / max(time.perf_counter() - started, 1e-9)
            progress(
                done / total,
                f"{done:,} of {total:,} {unit} on Ray ({actors} actor(s), {rate:.1f}/s, "
                f"{len(out['errors']):,} failed)",
            )
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()  # shuts the streaming execution down: its actors are killed
    out["first"] = out["first"] or time.perf_counter()
    return out


def _add_batch(out: dict, batch: dict) -> None:
    for index, key, error, shard, written in zip(
        batch["index"], batch["key"], batch["error"], batch["shard"], batch["written"], strict=True
    ):
        if key:
            out["keys"][int(index)] = str(key)
        else:
            out["errors"][int(index)] = str(error)
        if shard:
            out["shards"].add(str(shard))
        out["written"] += int(written)


def _describe_failure(exc: BaseException) -> str:
    """The 'Type: message' line of the error raised inside the batch, else the first line.

    A Ray task error's text holds the worker's traceback: the user's error comes first, then
    Ray's own wrappers (`ray.exceptions.UserCodeException: UDF failed ...`).
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    typed = [line for line in lines if _TYPED_LINE.match(line) and not line.startswith("ray.")]
    return typed[0] if typed else (lines[0] if lines else type(exc).__name__)


class _VectorActor:
    """One model actor: loads the model once, then encodes batches and writes their shards."""

    def __init__(self, factory_ref: list, folder: str, device: str, threads: int):
        import ray

        self._encode = ray.get(factory_ref[0])(device, threads)
        self._store = VectorStore(Path(folder))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        result = self._encode(batch)
        keys = [str(k) for k in result["key"]]
        first: dict[str, int] = {}
        for position, key in enumerate(keys):
            if key and key not in first:
                first[key] = position
        shard = ""
        if first:
            rows = np.asarray(result["features"], dtype=np.float32)[list(first.values())]
            shard = self._store.write_shard(list(first), torch.from_numpy(rows)).name
        written = np.zeros(len(keys), dtype=bool)
        written[list(first.values())] = True
        return {
            "index": np.asarray(batch["index"]),
            "key": np.array(keys, dtype=object),
            "error": np.array([str(e) for e in result["error"]], dtype=object),
            "shard": np.array([shard] * len(keys), dtype=object),
            "written": written,
        }
