"""Every background job kind the workbench ships, as thin adapters onto library `run_*` functions.

Library code (curation/, extension/) never imports `jobs`: its `run_*` functions take a spec
and a plain `progress(fraction, message)` callable. The adapters here turn a stored JSON spec
into that call. A new job kind is one decorated function below.
"""

from __future__ import annotations

from jobs.registry import register_job


@register_job("noop")
def _noop(con, spec: dict, progress) -> dict:
    """A job that only reports progress: used by tests and to check the worker is alive."""
    import time

    steps = int(spec.get("steps", 5))
    for step in range(steps):
        progress(step / steps, f"step {step + 1} of {steps}")
        time.sleep(float(spec.get("sleep_s", 0.0)))
    progress(1.0, "done")
    return {"steps": steps}


@register_job("relevance-train")
def _relevance_train(con, spec: dict, progress) -> dict:
    """Train (or resume) a caption relevance model: curation.relevance.train."""
    from curation.relevance.specs import TrainSpec
    from curation.relevance.train import run_train_relevance

    return run_train_relevance(con, TrainSpec.from_dict(spec), progress)


@register_job("relevance-score")
def _relevance_score(con, spec: dict, progress) -> dict:
    """Score captions with a relevance model version: curation.relevance.score."""
    from curation.relevance.score import run_score_relevance
    from curation.relevance.specs import ScoringSpec

    return run_score_relevance(con, ScoringSpec.from_dict(spec), progress)


@register_job("ingest_captions")
def _ingest_captions(con, spec: dict, progress) -> dict:
    """Import an ImageNet-Captions JSON file: curation.captions.run_ingest_captions.

    The ingest runs on its own cursor, so its one big transaction does not swallow the
    progress rows this job writes on `con` (they stay visible while it runs, and a cancel
    request from the page never conflicts with it).
    """
    from curation.captions import IngestCaptionsSpec, run_ingest_captions

    cursor = con.cursor()
    try:
        return run_ingest_captions(cursor, IngestCaptionsSpec(**spec), progress)
    finally:
        cursor.close()


@register_job("embed-image-set")
def _embed_image_set(con, spec: dict, progress) -> dict:
    """Embed a registered image set (resumable, cached): extension.image_sets."""
    from extension.eval_specs import EmbedSpec
    from extension.image_sets import run_embed_image_set

    return run_embed_image_set(con, EmbedSpec.from_dict(spec), progress)


@register_job("evaluate")
def _evaluate(con, spec: dict, progress) -> dict:
    """The paper's protocol on an image set: extension.evaluation."""
    from extension.eval_specs import EvalSpec
    from extension.evaluation import run_evaluation

    result = run_evaluation(con, EvalSpec.from_dict(spec), progress)
    return {"run_id": result["run_id"], "seconds": result["seconds"]}


@register_job("fewshot")
def _fewshot(con, spec: dict, progress) -> dict:
    """The few-shot baseline on an image set: extension.fewshot."""
    from extension.eval_specs import FewShotSpec
    from extension.fewshot import run_fewshot

    result = run_fewshot(con, FewShotSpec.from_dict(spec), progress)
    return {"run_id": result["run_id"], "seconds": result["seconds"]}


@register_job("text-stats")
def _text_stats(con, spec: dict, progress) -> dict:
    """Build the class text statistics when stale: extension.text_store."""
    from extension.text_store import run_build_text_stats

    return run_build_text_stats(con, force=bool(spec.get("force", False)), progress=progress)


@register_job("synthesize-class")
def _synthesize_class(con, spec: dict, progress) -> dict:
    """Synthesize the head row(s) of a class added from text: extension.new_class."""
    from extension.new_class import run_add_class
    from extension.specs import AddClassSpec

    return run_add_class(con, AddClassSpec.from_dict(spec), progress)


@register_job("leave-one-out")
def _leave_one_out(con, spec: dict, progress) -> dict:
    """Leave-one-out benchmark of synthesis methods: extension.loo."""
    from extension.loo import run_loo
    from extension.specs import LooSpec

    return {"results": run_loo(con, LooSpec.from_dict(spec), progress)["results"]}
