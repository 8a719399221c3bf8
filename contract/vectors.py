"""A folder of vectors keyed by content hash: the format of every feature cache.

Image features (`extension.images.store`) and caption features (`curation.relevance`) are
both stored this way, and a batch engine on other machines (Ray) writes the same shards.
Layout: `<folder>/shard-<id>.safetensors`, each shard holding `sha256` (N, 32) uint8 (the
key, a sha256 digest) and `features` (N, D) float32. A shard is written to a temporary name
and renamed, so a reader never sees half a shard and an interrupted writer loses at most the
shard it was writing. torch and safetensors are imported when used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path


class VectorStore:
    """Vectors keyed by hex sha256 digests, in safetensors shards under one folder."""

    def __init__(self, folder: Path, *, name: str | None = None):
        self.folder = Path(folder)
        self.name = name or self.folder.name
        self._rows = None  # digest -> (D,) tensor, loaded on first use
        self._shards: set[str] = set()  # shard file names already in `_rows`

    def known(self) -> set[str]:
        """Digests with stored vectors, including shards another writer (a job's own
        `VectorStore` of the same folder, another process) added since the last call."""
        return set(self._load())

    def get(self, digests: Sequence[str]):
        """(N, D) float32 tensor of these digests (all must be known).

        Raises:
            KeyError: some digests are not stored (the message says how many).
        """
        import torch

        rows = self._load()
        missing = [d for d in digests if d not in rows]
        if missing:
            raise KeyError(f"{len(missing)} of {len(digests)} vectors are not in store {self.name}")
        return torch.stack([rows[d] for d in digests]) if len(digests) else torch.zeros(0, 0)

    def write_shard(self, digests: Sequence[str], vectors) -> Path | None:
        """Add vectors (N, D) of these digests as one shard (atomic). Returns its path."""
        if not len(digests):
            return None
        import numpy as np
        import torch
        from safetensors.torch import save_file

        self.folder.mkdir(parents=True, exist_ok=True)
        keys = torch.from_numpy(np.array([list(bytes.fromhex(d)) for d in digests], np.uint8))
        shard_id = hashlib.sha256("".join(digests).encode()).hexdigest()[:16]
        final = self.folder / f"shard-{shard_id}.safetensors"
        tmp = self.folder / f".tmp-{shard_id}"
        save_file({"sha256": keys, "features": vectors.float().contiguous()}, str(tmp))
        tmp.replace(final)
        if self._rows is not None:
            self._rows.update(zip(digests, vectors.float(), strict=True))
            self._shards.add(final.name)
        return final

    def reload(self) -> None:
        """Forget what was loaded (shards written by another process appear on next use)."""
        self._rows = None
        self._shards = set()

    def _load(self) -> dict:
        """digest -> vector, reading only the shards not read yet (a listing per call, so a
        long-lived reader never answers from a stale picture of the folder)."""
        if self._rows is None:
            self._rows, self._shards = {}, set()
        new = sorted(
            p for p in self.folder.glob("shard-*.safetensors") if p.name not in self._shards
        )
        if new:
            from safetensors.torch import load_file

            for shard in new:
                data = load_file(str(shard))
                hexes = [bytes(r.tolist()).hex() for r in data["sha256"]]
                self._rows.update(zip(hexes, data["features"], strict=True))
                self._shards.add(shard.name)
        return self._rows
