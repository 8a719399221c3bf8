"""Issue 23: Train relevance had a "Run folder" text box, so a browser could make the server
train into (and write checkpoints in) any path it named. The page now offers only a new
folder or the recorded runs' folders under the storage root's relevance/.
"""

from __future__ import annotations

from db import relevance as relevance_db
from db.storage import get_storage
from tests.conftest import REPO_ROOT, open_page


def _run(con, folder) -> None:
    relevance_db.insert_run(
        con,
        name="r",
        encoder="tiny",
        class_wnids=["n01440764"],
        checkpoint_dir=str(folder),
        spec={},
        dataset_report={},
        mode="finetune",
    )


def test_train_relevance_offers_only_run_folders_under_the_storage_root(app_catalog_con, tmp_path):
    con = app_catalog_con
    inside = get_storage(con).relevance / "r-finetune-1"
    _run(con, inside)
    _run(con, tmp_path / "elsewhere")
    _run(con, "/etc")
    at = open_page(str(REPO_ROOT / "pages" / "relevance_train.py"), timeout=120).run()
    assert not at.exception, at.exception
    assert not [t for t in at.text_input if t.key == "rt-dir"]  # no typed server path
    assert at.selectbox(key="rt-dir").options == [
        "A new folder under the storage root's relevance/",
        "r-finetune-1",
    ]
