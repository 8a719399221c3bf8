"""A development/benchmark database with the embedded default texts.

The same database `workbench build-demo` writes (`curation.demo.build_demo_database`):
the 1000-class catalog, WordNet/Wiktionary/GPT descriptions with Wiktionary active, and the
ImageNet-X per-image texts (CC BY-NC 4.0: non-commercial) as captions.
"""

from __future__ import annotations

from pathlib import Path

from curation.demo import build_demo_database
from db.connect import connect
from db.sql import fetch_value


def build_dev_database(path: Path) -> Path:
    """Build (once) the default database at `path`; a filled one is reused as is."""
    con = connect(path)
    try:
        if fetch_value(con, "SELECT count(*) FROM captions") == 0:
            build_demo_database(con)
    finally:
        con.close()
    return path
