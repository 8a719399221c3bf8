"""Every background job kind the workbench ships, as thin adapters onto library `run_*` functions.

Library code (curation/, extension/) never imports `jobs`: its `run_*` functions take a spec
and a plain `progress(fraction, message)` callable. The adapters here turn a stored JSON spec
into that call. A new job kind is one decorated function below.
"""

from __future__ import annotations

from jobs.registry import register_job


@register_job("noop")
def _noop(con, spec: dict, progress) -> dict:
    """A job that only reports progress: used by tests and to check the worker is alive."""
    import time

    steps = int(spec.get("steps", 5))
    for step in range(steps):
        progress(step / steps, f"step {step + 1} of {steps}")
        time.sleep(float(spec.get("sleep_s", 0.0)))
    progress(1.0, "done")
    return {"steps": steps}
