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
