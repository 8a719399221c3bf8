"""String-keyed registry of job kinds (like timm's `register_model`).

A job function has the signature `fn(con, spec: dict, progress) -> dict | None`, where
`progress(fraction, message)` may raise `JobCancelled`; its return value is stored as the
job's result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JobFunction = Callable[[Any, dict, Callable[[float, str], None]], dict | None]
_JOB_KINDS: dict[str, JobFunction] = {}


def register_job(kind: str) -> Callable[[JobFunction], JobFunction]:
    """Decorator: make `fn` runnable as a background job of this kind."""

    def decorate(fn: JobFunction) -> JobFunction:
        if kind in _JOB_KINDS and _JOB_KINDS[kind] is not fn:
            raise ValueError(f"job kind {kind!r} is registered twice")
        _JOB_KINDS[kind] = fn
        return fn

    return decorate


def get_job_function(kind: str) -> JobFunction:
    """The function for a job kind; raises ValueError naming the known kinds."""
    _import_job_modules()
    if kind not in _JOB_KINDS:
        raise ValueError(f"Unknown job kind {kind!r}; known kinds: {sorted(_JOB_KINDS)}")
    return _JOB_KINDS[kind]


def list_job_kinds() -> list[str]:
    """Registered job kinds, sorted."""
    _import_job_modules()
    return sorted(_JOB_KINDS)


def _import_job_modules() -> None:
    # Importing jobs.kinds registers every job kind the workbench ships.
    import jobs.kinds  # noqa: F401
