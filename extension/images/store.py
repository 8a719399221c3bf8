"""The one image feature store: pre-logits features per model, keyed by image content.

Features come from `forward_features` + `forward_head(pre_logits=True)`; logits of any head
are then one matmul (`features @ W.T + b`), so one store serves the trained head, synthesized
rows and the 1000-way test alike. Layout: `<cache>/embeddings/<model_key>/shard-*.safetensors`,
in the format of `contract.vectors.VectorStore` (written to a temporary name and renamed, so
an interrupted run loses at most one shard and a re-run continues). The
model key is `extension.models.compute_model_key` (a hash of the tensors), the image key the
sha256 of the bytes that were decoded. Leave-one-out, image sets, the Evaluation page and the
"Add a class" photo check all embed through `embed_files`, so a photo is embedded once per
model, whoever asks first. `embed_files_on_ray` does the same work on a Ray cluster
(`scale.batch`): same files, keys, features and shards.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from contract.progress import Progress, no_progress
from contract.storage import resolve_cache_dir
from contract.vectors import VectorStore
from extension.images.files import ImageFileError, open_image, read_image_bytes


@dataclass
class EmbedReport:
    """What `embed_files` did.

    Attributes:
        digests: (N,) the sha256 of each file as read, None where it could not be read.
        errors: index -> one line saying why that file is not embedded.
        n_new: files embedded by this call; n_cached: files already in the store.
        engine: what ran: {'engine': 'local'}, or the Ray pool and its timings.
    """

    digests: list[str | None]
    errors: dict[int, str] = field(default_factory=dict)
    n_new: int = 0
    n_cached: int = 0
    engine: dict = field(default_factory=lambda: {"engine": "local"})


def open_feature_store(model_key: str, *, cache_dir: Path | None = None) -> VectorStore:
    """The image features of one model: `<cache>/embeddings/<model_key>/`."""
    return VectorStore(resolve_cache_dir(cache_dir) / "embeddings" / model_key, name=model_key)


def embed_files(
    model: torch.nn.Module,
    paths: Sequence[Path],
    store: VectorStore,
    *,
    expected: Sequence[str | None] | None = None,
    batch_size: int = 64,
    chunk_size: int = 256,
    device: str = "cpu",
    progress: Progress | None = None,
) -> EmbedReport:
    """Embed every file whose content is not yet in the store; one shard per chunk.

    Args:
        model: the base model the store belongs to (its eval transform is used).
        paths: (N,) image files.
        expected: (N,) sha256 recorded earlier (an image set's registration), or None. A file
            whose recorded hash is already stored is not read again; one whose bytes no
            longer match its record is reported and not stored.
        chunk_size: images per shard; an interrupted call loses at most one chunk.

    Returns:
        The digests (as read) of every file, per-file errors, and counts.
    """
    progress = progress or no_progress
    expected = list(expected) if expected is not None else [None] * len(paths)
    known = store.known()
    report = EmbedReport(digests=list(expected))
    todo = [i for i, digest in enumerate(expected) if digest is None or digest not in known]
    report.n_cached = len(paths) - len(todo)
    if todo:
        model = model.to(device).eval()
        transform = make_eval_transform(model)
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start : start + chunk_size]
        _embed_chunk(
            model,
            transform,
            [Path(paths[i]) for i in chunk],
            chunk,
            store,
            report,
            expected=expected,
            batch_size=batch_size,
            device=device,
        )
        done = min(start + chunk_size, len(todo))
        progress(
            done / len(todo),
            f"embedded {done:,} of {len(todo):,} new images ({len(report.errors):,} unreadable)",
        )
    return report


def _embed_chunk(model, transform, paths, indices, store, report, *, expected, batch_size, device):
    """Read, check, decode and embed one chunk; record digests, errors and the shard."""
    tensors, digests = [], []
    seen = store.known()
    for index, path in zip(indices, paths, strict=True):
        try:
            image = _read_checked(path, expected[index])
            report.digests[index] = image.sha256
            if image.sha256 in seen:
                report.n_cached += 1
                continue
            tensors.append(transform(open_image(image.data, where=str(path))))
            digests.append(image.sha256)
            seen.add(image.sha256)
        except ImageFileError as exc:
            report.digests[index] = None
            report.errors[index] = str(exc)
    features = [
        compute_batch_features(model, torch.stack(tensors[i : i + batch_size]).to(device)).cpu()
        for i in range(0, len(tensors), batch_size)
    ]
    if features:
        store.write_shard(digests, torch.cat(features))
        report.n_new += len(digests)


def _read_checked(path: Path, expected: str | None):
    """The file's bytes (`read_image_bytes`), refused when they no longer match `expected`."""
    image = read_image_bytes(path)
    if expected is not None and image.sha256 != expected:
        raise ImageFileError(f"{path}: the file changed since it was registered")
    return image


@torch.no_grad()
def compute_batch_features(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """(B, D) pre-logits features of a preprocessed batch (B, 3, H, W)."""
    return model.forward_head(model.forward_features(batch), pre_logits=True).float()


def make_eval_transform(model: torch.nn.Module):
    """timm's eval transform for the model's pretrained config (resize, crop, normalize)."""
    from timm.data import create_transform, resolve_data_config

    return create_transform(**resolve_data_config({}, model=model))


def load_features(
    model: torch.nn.Module,
    paths: Sequence[Path],
    *,
    model_key: str,
    cache_dir: Path | None = None,
    device: str = "cpu",
    progress: Progress | None = None,
) -> tuple[torch.Tensor, list[int], EmbedReport]:
    """Features of files, embedding what the store lacks.

    Returns:
        (features (M, D) of the readable files, their indices into `paths` (M,), the report).
    """
    store = open_feature_store(model_key, cache_dir=cache_dir)
    report = embed_files(model, paths, store, device=device, progress=progress)
    keep = [i for i, d in enumerate(report.digests) if d is not None]
    return store.get([report.digests[i] for i in keep]), keep, report


def embed_files_on_ray(
    model: torch.nn.Module,
    paths: Sequence[Path],
    store: VectorStore,
    *,
    expected: Sequence[str | None] | None = None,
    batch_size: int = 64,
    chunk_size: int = 256,
    device: str = "auto",
    address: str = "",
    pool=None,
    progress: Progress | None = None,
) -> EmbedReport:
    """`embed_files` on Ray: a pool of model actors reads, checks, decodes and embeds the
    files the store lacks and writes one shard per chunk (`scale.batch.run_vector_job`).

    Args:
        paths: (N,) image files, at paths every node can read (made absolute here).
        expected, batch_size, chunk_size: as in `embed_files` (a chunk is one Ray batch).
        device: 'auto' (GPU actors when the cluster has GPUs), 'cpu' or 'cuda'.
        address: '' (a local Ray instance), 'auto', 'HOST:PORT' or 'ray://HOST:PORT'.
        pool: a `scale.specs.ActorPoolSpec` (None: one actor, one CPU).

    Returns:
        The report of `embed_files`, with the pool and its timings in `engine`.
    """
    from scale.batch import run_vector_job

    expected = list(expected) if expected is not None else [None] * len(paths)
    known = store.known()
    todo = [i for i, digest in enumerate(expected) if digest is None or digest not in known]
    rows = [
        {"index": i, "path": str(Path(paths[i]).resolve()), "expected": expected[i] or ""}
        for i in todo
    ]
    result = run_vector_job(
        rows,
        RayImageEncoder(model, batch_size=batch_size),
        store.folder,
        address=address,
        pool=pool,
        device=device,
        rows_per_batch=chunk_size,
        progress=progress,
        unit="images",
    )
    store.reload()  # the actors wrote shards this object has not read
    report = EmbedReport(digests=list(expected), errors=dict(result.errors))
    for i in todo:
        report.digests[i] = result.keys.get(i)  # None where the file failed
    report.n_new = result.n_written
    report.n_cached = len(paths) - len(todo) + len(result.keys) - result.n_written
    report.engine = {"engine": "ray", **_describe_ray_result(result)}
    return report


def _describe_ray_result(result) -> dict:
    """The pool that ran and its timings (s), for job results and benchmarks."""
    names = ("actors", "cpus_per_actor", "gpus_per_actor", "device")
    timings = ("seconds_connect", "seconds_first_batch", "seconds_total")
    return {
        **{n: getattr(result, n) for n in names},
        **{n: round(getattr(result, n), 3) for n in timings},
    }


class RayImageEncoder:
    """The image embedding as a `scale.batch.EncoderFactory`: pickled with the model (on the
    CPU) to every Ray actor, which calls it once (model to its device, eval transform)."""

    def __init__(self, model: torch.nn.Module, *, batch_size: int = 64):
        on_cpu = all(p.device.type == "cpu" for p in model.parameters())
        self.model = model if on_cpu else copy.deepcopy(model).cpu()
        self.batch_size = batch_size

    def __call__(self, device: str, threads: int) -> _ImageBatchEncoder:
        torch.set_num_threads(threads)
        model = self.model.to(device).eval()
        return _ImageBatchEncoder(
            model, make_eval_transform(model), self.batch_size, device, threads
        )


class _ImageBatchEncoder:
    """One actor's encoder: files read and decoded on `threads` threads, then embedded in
    forward passes of `batch_size` in row order (as `embed_files` does)."""

    def __init__(self, model, transform, batch_size: int, device: str, threads: int):
        self.model, self.transform = model, transform
        self.batch_size, self.device = batch_size, device
        self.decoders = ThreadPoolExecutor(max_workers=threads)

    def __call__(self, batch: dict) -> dict:
        done = list(self.decoders.map(self._prepare, batch["path"], batch["expected"]))
        ok = [i for i, (key, _, _) in enumerate(done) if key]
        parts = [
            compute_batch_features(
                self.model,
                torch.stack([done[i][1] for i in ok[s : s + self.batch_size]]).to(self.device),
            ).cpu()
            for s in range(0, len(ok), self.batch_size)
        ]
        features = np.zeros((len(done), parts[0].shape[1] if parts else 0), np.float32)  # (B, D)
        if parts:
            features[ok] = torch.cat(parts).numpy()
        return {
            "key": [key for key, _, _ in done],
            "error": [error for _, _, error in done],
            "features": features,
        }

    def _prepare(self, path: str, expected: str) -> tuple[str, torch.Tensor | None, str]:
        """(sha256, preprocessed (3, H, W) tensor, '') of one file, or ('', None, why not)."""
        try:
            image = _read_checked(Path(path), expected or None)
            return image.sha256, self.transform(open_image(image.data, where=str(path))), ""
        except ImageFileError as exc:
            return "", None, str(exc)
