"""The one progress type of the workbench: a plain callable `progress(fraction, message)`.

Library `run_*` functions take one and call it with a fraction in [0, 1] and a short
message; the job worker's `JobProgress` writes it to the `jobs` table (and may raise to
cancel), the CLI draws a terminal bar, tests pass nothing.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]


def format_duration(seconds: float) -> str:
    """A duration as people read it: '45 s', '3 min 10 s', '1 h 05 min'."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def no_progress(fraction: float, message: str = "") -> None:
    """A progress callable that does nothing (the default of every `run_*`)."""


def scale_progress(progress: Progress | None, start: float, end: float) -> Progress:
    """`progress` seen through a sub-range: 0..1 of the part maps onto start..end of the whole.

    Args:
        progress: the caller's callable (None: nothing is reported).
        start, end: the sub-range of the whole job this part covers, 0 <= start <= end <= 1.
    """
    if progress is None:
        return no_progress
    if not 0.0 <= start <= end <= 1.0:
        raise ValueError(f"need 0 <= start <= end <= 1, got {start}, {end}")
    return lambda fraction, message="": progress(start + (end - start) * fraction, message)
