"""`workbench --help` and every subcommand's parser stay quick: no deep-learning imports."""

from __future__ import annotations

import subprocess
import sys

HEAVY_MODULES = ("torch", "transformers", "timm", "streamlit")


def test_building_the_parser_imports_no_heavy_library():
    code = (
        "import sys, cli.main as m; m.build_parser(); "
        f"print(','.join(name for name in {HEAVY_MODULES!r} if name in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "", f"building the CLI parser imported {loaded}"


def test_every_subcommand_has_help():
    from cli.main import build_parser

    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    assert {"build-demo", "run", "ingest-captions", "loo", "evaluate", "relevance"} <= set(
        subcommands
    )
    for name, sub in subcommands.items():
        assert sub.format_help().startswith("usage: workbench"), name
