"""The run row of a training folder, shared by both training modes (`train` for 'finetune',
`frozen_run` for 'frozen'): both import it from here, so neither imports the other's module
at load time (`train` dispatches to `frozen_run`)."""

from __future__ import annotations

from pathlib import Path

from curation.relevance import checkpoint as ckpt
from curation.relevance.specs import TrainSpec
from db import relevance as relevance_db


def start_or_resume_run(
    con, spec: TrainSpec, dataset, run_dir: Path, report: dict, *, mode: str, existing: dict | None
) -> int:
    """The run row of `run_dir` (its id), marked 'training': inserted when `existing` is None,
    else `existing` after checking it was made for the same classes, encoder and mode.

    Raises:
        CheckpointMismatchError: the folder's run was made for other classes, encoder or mode.
    """
    if existing is None:
        return relevance_db.insert_run(
            con,
            name=spec.name,
            encoder=spec.encoder,
            class_wnids=dataset.class_wnids,
            checkpoint_dir=str(run_dir),
            spec=spec.to_dict(),
            dataset_report=report,
            mode=mode,
            source=spec.dataset.source,
        )
    ckpt.check_compatible(
        existing,
        class_wnids=dataset.class_wnids,
        encoder=spec.encoder,
        mode=mode,
        where=f"of run {existing['run_id']}",
    )
    relevance_db.update_run_status(con, existing["run_id"], "training")
    return int(existing["run_id"])


def list_run_folders(con) -> list[str]:
    """The folders of recorded runs that lie under the storage root's relevance/ folder, newest
    first: the only folders a page may offer to train into (a fine-tune run's resumes it).
    A run recorded elsewhere (an older version, a CLI `--checkpoint-dir`) is not offered."""
    from db.storage import get_storage

    root = get_storage(con).relevance.resolve()
    folders = []
    for folder in relevance_db.list_runs(con)["checkpoint_dir"].to_list():
        resolved = Path(folder).resolve()
        if resolved.is_relative_to(root) and resolved != root and str(resolved) not in folders:
            folders.append(str(resolved))
    return folders
