"""Shared pieces of the Ray engine tests: a small local Ray instance that leaves no process
behind, and a slow batch encoder to cancel."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

# The test instance: 2 CPUs at most (CI machines are small), a small object store.
RAY_CPUS = 2
OBJECT_STORE_BYTES = 200 * 1024**2


def list_descendants(pid: int) -> set[int]:
    """Pids of every process below `pid` (from /proc), e.g. the GCS, raylet and workers."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def wait_until_gone(pids: set[int], timeout_s: float = 20.0) -> set[int]:
    """The pids still alive (zombies count as gone) after waiting up to `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if _running(pid)}
        time.sleep(0.2)
    return alive


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class SlowEncoder:
    """An `EncoderFactory` whose batches take `sleep_s` each: vectors of the row index."""

    def __init__(self, sleep_s: float):
        self.sleep_s = sleep_s

    def __call__(self, device: str, threads: int):
        return self._encode

    def _encode(self, batch: dict) -> dict:
        import hashlib

        time.sleep(self.sleep_s)
        keys = [hashlib.sha256(str(int(i)).encode()).hexdigest() for i in batch["index"]]
        features = np.asarray(batch["index"], np.float32)[:, None].repeat(4, axis=1)
        return {"key": keys, "error": [""] * len(keys), "features": features}


class FailingEncoder:
    """An `EncoderFactory` whose every batch raises (a bug inside a job's batch function)."""

    def __call__(self, device: str, threads: int):
        return self._encode

    def _encode(self, batch: dict) -> dict:
        raise ValueError(
            f"batch of {len(batch['index'])} rows refused on purpose (pid {os.getpid()})"
        )
