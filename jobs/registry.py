"""String-keyed registry of job kinds (like timm's `register_model`).

A job kind is a function `fn(con, spec, progress) -> dict | None` and the `JsonSpec` class of
its spec: the stored JSON is parsed into that class before the function runs (and when the
job is submitted, so a bad spec is refused at once). `progress(fraction, message)` may raise
`JobCancelled`; the return value is stored as the job's result. This module imports nothing
of the project but `contract`: `jobs.kinds` registers the kinds the workbench ships.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contract.progress import Progress
from contract.registry import Registry
from contract.specs import JsonSpec

JobFunction = Callable[[Any, Any, Progress], dict | None]


@dataclass(frozen=True)
class JobKind:
    """A registered job kind: its function and its spec class."""

    name: str
    fn: JobFunction
    spec_class: type[JsonSpec]

    def parse_spec(self, spec: dict) -> JsonSpec:
        """The stored spec as its class. Raises ValueError naming what is wrong."""
        return self.spec_class.from_dict(spec)


_JOB_KINDS: Registry[JobKind] = Registry("job kind")


def register_job(kind: str, *, spec: type[JsonSpec]) -> Callable[[JobFunction], JobFunction]:
    """Decorator: make `fn(con, spec, progress)` runnable as a background job of this kind."""

    def decorate(fn: JobFunction) -> JobFunction:
        _JOB_KINDS.add(kind, JobKind(kind, fn, spec))
        return fn

    return decorate


def get_job_kind(kind: str) -> JobKind:
    """The registered kind; raises ValueError naming the known kinds."""
    return _JOB_KINDS.get(kind)


def find_job_kind_of(spec: JsonSpec) -> str:
    """The kind a spec starts: the one kind registered with exactly its class.

    Raises:
        ValueError: no kind, or several kinds, take this spec class (then name the kind).
    """
    kinds = sorted(k.name for k in _JOB_KINDS.values() if k.spec_class is type(spec))
    if len(kinds) != 1:
        found = f"kinds {kinds}" if kinds else "no kind"
        raise ValueError(f"{type(spec).__name__} starts {found}: name the job kind.")
    return kinds[0]


def list_job_kinds() -> list[str]:
    """Registered job kinds, sorted."""
    return sorted(_JOB_KINDS.names())
