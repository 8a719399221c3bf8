"""Every background job kind the workbench ships, as thin adapters onto library `run_*` functions.

Library code (curation/, extension/) never imports `jobs`: its `run_*` functions take a spec
and a plain `progress(fraction, message)` callable. Each kind here names its spec class (the
registry parses the stored JSON into it) and calls the library; the library modules are
imported inside the adapters, so importing this module stays cheap (no torch). A new job kind
is one decorated function below.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.specs import JsonSpec
from curation.captions import IngestCaptionsSpec
from curation.relevance.specs import FeatureSpec, ScoringSpec, TrainSpec
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


@register_job("relevance-train", spec=TrainSpec)
def _relevance_train(con, spec: TrainSpec, progress) -> dict:
    from curation.relevance.train import run_train_relevance

    return run_train_relevance(con, spec, progress)


@register_job("relevance-features", spec=FeatureSpec)
def _relevance_features(con, spec: FeatureSpec, progress) -> dict:
    from curation.relevance.features import run_compute_relevance_features

    return run_compute_relevance_features(con, spec, progress)


@register_job("relevance-score", spec=ScoringSpec)
def _relevance_score(con, spec: ScoringSpec, progress) -> dict:
    from curation.relevance.score import run_score_relevance

    return run_score_relevance(con, spec, progress)


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


@register_job("embed-image-set", spec=EmbedSpec)
def _embed_image_set(con, spec: EmbedSpec, progress) -> dict:
    from extension.images.sets import run_embed_image_set

    return run_embed_image_set(con, spec, progress)


@register_job("evaluate", spec=EvalSpec)
def _evaluate(con, spec: EvalSpec, progress) -> dict:
    from extension.evaluation.protocol import run_evaluation

    result = run_evaluation(con, spec, progress)
    return {"run_id": result["run_id"], "seconds": result["seconds"]}


@register_job("fewshot", spec=FewShotSpec)
def _fewshot(con, spec: FewShotSpec, progress) -> dict:
    from extension.evaluation.fewshot import run_fewshot

    result = run_fewshot(con, spec, progress)
    return {"run_id": result["run_id"], "seconds": result["seconds"]}


@register_job("text-stats", spec=TextStatsSpec)
def _text_stats(con, spec: TextStatsSpec, progress) -> dict:
    from extension.text.store import run_build_text_stats

    return run_build_text_stats(con, spec, progress)


@register_job("text-embeddings", spec=TextEmbeddingSpec)
def _text_embeddings(con, spec: TextEmbeddingSpec, progress) -> dict:
    from extension.text.embedding import run_embed_class_texts

    return run_embed_class_texts(con, spec, progress)


@register_job("synthesize-class", spec=AddClassSpec)
def _synthesize_class(con, spec: AddClassSpec, progress) -> dict:
    from extension.synthesis.new_class import run_add_class

    return run_add_class(con, spec, progress)


@register_job("leave-one-out", spec=LooSpec)
def _leave_one_out(con, spec: LooSpec, progress) -> dict:
    from extension.synthesis.loo import run_loo

    return {"results": run_loo(con, spec, progress)["results"]}


@register_job("export-model", spec=ExportSpec)
def _export_model(con, spec: ExportSpec, progress) -> dict:
    """The checkpoint folder, and a zip of it for the page's download button."""
    from contract.files import write_folder_zip
    from extension.synthesis.export import run_export

    result = run_export(con, spec, progress)
    return {**result, "zip": str(write_folder_zip(result["path"]))}


@register_job("keep-class", spec=KeepClassSpec)
def _keep_class(con, spec: KeepClassSpec, progress) -> dict:
    from extension.synthesis.drafts import run_keep_class

    return run_keep_class(con, spec, progress)


@register_job("photo-check", spec=PhotoCheckSpec)
def _photo_check(con, spec: PhotoCheckSpec, progress) -> dict:
    from extension.synthesis.drafts import run_photo_check

    return run_photo_check(con, spec, progress)
