"""Every background job kind the workbench ships, as a table onto library `run_*` functions.

Library code (curation/, extension/) never imports `jobs`: its `run_*` functions take a spec
and a plain `progress(fraction, message)` callable. Each kind names its spec class (the
registry parses the stored JSON into it) and the library function that runs it, as
"module:function"; the module is imported when the job runs, so importing this module stays
cheap (no torch). A new job kind is one row of `LIBRARY_JOBS`, or a decorated function below
when the job needs more than calling the library.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from contract.specs import JsonSpec
from curation.captions import IngestCaptionsSpec
from curation.projection import ProjectionSpec
from curation.relevance.specs import FeatureSpec, ScoringSpec, TrainSpec
from curation.search import CaptionFeatureSpec
from extension.specs import (
    AddClassSpec,
    EmbedSpec,
    EvalSpec,
    ExportSpec,
    FewShotSpec,
    KeepClassSpec,
    LooSpec,
    PhotoCheckSpec,
    TextEmbeddingSpec,
    TextStatsSpec,
)
from jobs.registry import register_job

# kind -> (spec class, "module:function", result keys the job stores; None keeps them all).
# Evaluation results live in their own tables, so the job stores only where to find them.
LIBRARY_JOBS: dict[str, tuple[type[JsonSpec], str, tuple[str, ...] | None]] = {
    "relevance-train": (TrainSpec, "curation.relevance.train:run_train_relevance", None),
    "relevance-features": (
        FeatureSpec,
        "curation.relevance.features:run_compute_relevance_features",
        None,
    ),
    "caption-features": (
        CaptionFeatureSpec,
        "curation.search:run_compute_caption_features",
        None,
    ),
    "caption-map": (
        ProjectionSpec,
        "curation.projection:run_compute_umap_projection",
        None,
    ),
    "relevance-score": (ScoringSpec, "curation.relevance.score:run_score_relevance", None),
    "embed-image-set": (EmbedSpec, "extension.images.sets:run_embed_image_set", None),
    "evaluate": (EvalSpec, "extension.evaluation.protocol:run_evaluation", ("run_id", "seconds")),
    "fewshot": (FewShotSpec, "extension.evaluation.fewshot:run_fewshot", ("run_id", "seconds")),
    "text-stats": (TextStatsSpec, "extension.text.store:run_build_text_stats", None),
    "text-embeddings": (TextEmbeddingSpec, "extension.text.embedding:run_embed_class_texts", None),
    "synthesize-class": (AddClassSpec, "extension.synthesis.new_class:run_add_class", None),
    "leave-one-out": (LooSpec, "extension.synthesis.loo:run_loo", ("results",)),
    "keep-class": (KeepClassSpec, "extension.synthesis.drafts:run_keep_class", None),
    "photo-check": (PhotoCheckSpec, "extension.synthesis.drafts:run_photo_check", None),
}

# Long builds the pages start on their own, not on a click: they run in the worker's
# prefetch lane, beside what people start, never in front of it (`jobs.worker.LANES`). The
# caption features (minutes over every caption) once held a text-stats build that Add a class
# waited for ~9 minutes (issue 17).
PREFETCH_KINDS: tuple[str, ...] = ("text-embeddings", "caption-features")


def _library_job(target: str, keep: tuple[str, ...] | None):
    """A job function that imports `target` ("module:function") when it runs and calls it."""
    module_name, function_name = target.split(":")

    def run(con, spec, progress) -> dict:
        function = getattr(importlib.import_module(module_name), function_name)
        result = function(con, spec, progress)
        return result if keep is None else {key: result[key] for key in keep}

    run.__name__ = function_name
    return run


for _kind, (_spec_class, _target, _keep) in LIBRARY_JOBS.items():
    register_job(_kind, spec=_spec_class)(_library_job(_target, _keep))


@dataclass(frozen=True)
class NoopSpec(JsonSpec):
    """A job that only reports progress (tests, checking that the worker is alive)."""

    steps: int = 5
    sleep_s: float = 0.0


@register_job("noop", spec=NoopSpec)
def _noop(con, spec: NoopSpec, progress) -> dict:
    import time

    for step in range(spec.steps):
        progress(step / spec.steps, f"step {step + 1} of {spec.steps}")
        time.sleep(spec.sleep_s)
    progress(1.0, "done")
    return {"steps": spec.steps}


@register_job("ingest_captions", spec=IngestCaptionsSpec)
def _ingest_captions(con, spec: IngestCaptionsSpec, progress) -> dict:
    """The ingest runs on its own cursor, so its one big transaction does not swallow the
    progress rows this job writes (they stay visible while it runs, and a cancel request
    from the page never conflicts with it)."""
    from curation.captions import run_ingest_captions

    cursor = con.cursor()
    try:
        return run_ingest_captions(cursor, spec, progress)
    finally:
        cursor.close()


@register_job("export-model", spec=ExportSpec)
def _export_model(con, spec: ExportSpec, progress) -> dict:
    """The checkpoint folder, and a zip of the files the export wrote (only those) beside it,
    for the page's download button."""
    from pathlib import Path

    from contract.files import write_files_zip
    from extension.synthesis.export import run_export

    result = run_export(con, spec, progress)
    folder = Path(result["path"])
    target = folder.with_name(folder.name + ".zip")
    return {**result, "zip": str(write_files_zip(folder, result["files"], target))}
