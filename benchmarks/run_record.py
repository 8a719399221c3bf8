"""What the benchmarks record about a run, and where they write their results.

Each `benchmarks/bench_*.py` writes `benchmarks/results/<name>.json` and `<name>.md`, with the
command that reproduces it, the machine, and the 1-minute load average before and after (the
machine may be shared, so a busy run shows in its own record).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def describe_command(script: str, argv: list[str] | None) -> str:
    """The command line of this run: 'python benchmarks/<script> <arguments>' (`argv`, or
    the process's own arguments when None or empty)."""
    return f"python benchmarks/{script} " + " ".join(argv or sys.argv[1:])


def read_load_average() -> float:
    """The 1-minute load average of the machine, rounded to 0.01."""
    return round(os.getloadavg()[0], 2)


def describe_torch_machine(device: str | None = None) -> dict:
    """`device` (default: the CPU's name), `cpu_count`, `torch_threads` and the `torch` version."""
    import torch

    return {
        "device": device or platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def write_results(name: str, results: dict, markdown: str) -> None:
    """Write `results/<name>.json` (indent 2; values JSON has no type for as text) and
    `results/<name>.md`, and print the Markdown."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, default=str)
    (RESULTS / f"{name}.json").write_text(text, encoding="utf-8")
    (RESULTS / f"{name}.md").write_text(markdown, encoding="utf-8")
    print(markdown)
