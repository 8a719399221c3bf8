"""The storage root of a connection's database (see `contract.storage` for the layout)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from contract.storage import Storage, compute_storage
from db.sql import get_database_path


def get_storage(con: duckdb.DuckDBPyConnection, *, cache_dir: str | Path | None = None) -> Storage:
    """The folders every file of this database goes to ($WORKBENCH_STORAGE, else beside the
    database file); `cache_dir` ('' or None: the root's cache/) overrides the cache part."""
    return compute_storage(get_database_path(con)).with_cache(cache_dir)
