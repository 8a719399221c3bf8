"""The embedded default database: what `workbench build-demo` (and `make run`) builds.

Everything comes from installed packages and files shipped in the repository, so it builds
offline: the 1000 ImageNet-1k classes (timm data), WordNet / Wiktionary / GPT descriptions,
an active description per class (Wiktionary where it has one, else the WordNet gloss), and
the ImageNet-X per-image texts (CC BY-NC 4.0) as the default caption source.
"""

from __future__ import annotations

import duckdb

from contract.progress import Progress, no_progress, scale_progress
from curation.catalog import seed_imagenet1k
from db.classes import count_classes
from db.overview import has_caption_source

DEMO_CAPTION_SOURCE = "imagenet-x"
# Wiktionary is the closest offline text to the paper's Wikipedia summaries (OFFLINE.md);
# the WordNet gloss fills the 6 classes Wiktionary lacks.
DEFAULT_DESCRIPTION_ORDER = ("wiktionary", "wordnet")
DEMO_ACTOR = "build-demo"


def is_demo_built(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the catalog and the default caption source are in the database."""
    return count_classes(con) >= 1000 and has_caption_source(con, DEMO_CAPTION_SOURCE)


def build_demo_database(
    con: duckdb.DuckDBPyConnection, *, progress: Progress | None = None
) -> dict:
    """Fill a database with the embedded default data. Idempotent: a second run adds nothing
    and never overrides a description a curator chose.

    Returns:
        Counts of what this call added.
    """
    from curation.descriptions import import_builtin_sources, use_source_where_unset
    from curation.imagenet_x import ingest_imagenet_x

    report = progress or no_progress
    report(0.0, "class catalog")
    summary = {"classes added": seed_imagenet1k(con)}
    report(0.1, "class descriptions")
    for source, n_classes in import_builtin_sources(con).items():
        summary[f"classes with a {source} text"] = n_classes
    for source in DEFAULT_DESCRIPTION_ORDER:
        summary[f"active set from {source}"] = use_source_where_unset(
            con, source=source, actor=DEMO_ACTOR
        )
    report(0.3, "ImageNet-X per-image texts")
    ingest = ingest_imagenet_x(con, progress=scale_progress(report, 0.3, 1.0))
    summary["captions added"] = ingest["n_inserted"]
    report(1.0, "done")
    return summary
