"""Train relevance: the dataset (caption source, classes), the mode (frozen by default on a
CPU), a training job with live charts, runs, model versions and a scoring job.

What the page waits for is read from the database: the newest training / scoring / feature
job (`find_latest_job`), whose status widget reruns the page when it finishes, and the run
that job trains. The source, the selected run and the model version are in the URL.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from contract.devices import resolve_device
from contract.specs import get_spec_default
from curation.relevance.checkpoint import make_run_dir
from curation.relevance.dataset import build_relevance_dataset
from curation.relevance.runs import list_run_folders
from curation.relevance.specs import (
    DatasetSpec,
    FeatureSpec,
    FrozenHeadSpec,
    ScoringSpec,
    TrainSpec,
    resolve_mode,
)
from db import jobs as job_db
from db import relevance as relevance_db
from db.storage import get_storage
from encoders.registry import list_encoder_aliases
from ui import plain
from ui.relevance_figures import make_training_figure
from ui.resources import get_cursor, start_job
from ui.widgets import find_latest_job, render_job_status, select_in_url

OTHER_ENCODER = "Other: Hugging Face name or local path"
ALL_SOURCES = "(all sources)"
MODE_HELP = {
    "frozen": "Frozen encoder: captions and class sentences are encoded once (cached), then "
    "the paper's head (dropout, linear, sigmoid) trains on the features for every class, "
    "5-fold cross-fitted so every caption gets an out-of-sample score. Minutes on a CPU.",
    "finetune": "Fine-tune: the whole encoder trains on (caption, class sentence) pairs, as "
    "in the paper. Needs a GPU for more than a few classes; scores are out of sample only for "
    "the test split.",
}
CHART_POLL_S = 2.0
RUNS_POLL_S = 5.0  # the runs table while a training job is active


def _dataset_spec_inputs(con) -> DatasetSpec:
    sources = [ALL_SOURCES, *relevance_db.list_caption_sources(con)]
    defaults = DatasetSpec()
    cols = st.columns(4)
    source = cols[0].selectbox("Caption source", sources, key="source", bind="query-params")
    max_classes = cols[1].number_input(
        "Classes (0 = all)", min_value=0, value=defaults.max_classes, step=10, key="rt-max-classes"
    )
    seed = cols[2].number_input("Split/fold seed", min_value=0, value=defaults.seed, key="rt-seed")
    max_sentences = cols[3].number_input(
        "Sentences per class (max)",
        min_value=1,
        max_value=max(10, defaults.max_sentences),
        value=defaults.max_sentences,
        key="rt-max-sentences",
    )
    return DatasetSpec(
        seed=int(seed),
        max_classes=int(max_classes),
        max_sentences=int(max_sentences),
        source=None if source == ALL_SOURCES else source,
    )


def _render_dataset_preview(con, spec: DatasetSpec) -> None:
    if st.button("Preview dataset", key="rt-preview"):
        try:
            dataset = build_relevance_dataset(con, spec)
        except ValueError as exc:
            plain.error(exc)
            return
        st.session_state["rt-dataset"] = (spec, dataset.report, dataset.per_class)
    preview = st.session_state.get("rt-dataset")
    if preview is None or preview[0] != spec:
        st.caption("Preview the dataset to see its sizes before training.")
        return
    _, report, per_class = preview
    cols = st.columns(4)
    cols[0].metric("Classes", report["n_classes"])
    cols[1].metric("Train captions", report["n_train_captions"])
    cols[2].metric("Test captions", report["n_test_captions"])
    cols[3].metric("Training pairs", report["n_train_pairs"])
    st.text(
        f"Skipped: {report['n_skipped_short']:,} empty/one-word captions; "
        f"{report['n_skipped_no_description']:,} captions of classes left out of the training "
        f"set (not among the chosen classes, or one of the "
        f"{len(report['classes_without_description']):,} classes without a description); "
        f"{len(report.get('classes_without_captions', [])):,} described classes have no "
        f"captions (excluded); {report['n_classes_short_description']:,} classes have fewer "
        f"than 2 sentences; {report['n_non_ascii_heavy']:,} captions look non-English."
    )
    for key, title in (
        ("classes_without_description", "Classes without a description (excluded)"),
        ("classes_without_captions", "Classes without captions (excluded)"),
    ):
        if report.get(key):
            with st.expander(title):
                st.dataframe({"wnid": report[key]}, hide_index=True)
    st.dataframe(per_class, hide_index=True, height=240)


def _encoder_input() -> str:
    choices = [*list_encoder_aliases(), OTHER_ENCODER]
    choice = st.selectbox("Encoder", choices, key="rt-encoder")
    if choice != OTHER_ENCODER:
        return choice
    return st.text_input("Encoder name or path (e.g. roberta-base)", key="rt-encoder-other")


def _frozen_head_inputs() -> FrozenHeadSpec:
    defaults = FrozenHeadSpec()
    cols = st.columns(4)
    epochs = cols[0].number_input("Head epochs", 1, 200, defaults.epochs, key="rt-f-epochs")
    lr = cols[1].number_input("Head LR", value=defaults.learning_rate, format="%.1e", key="rt-f-lr")
    decay = cols[2].number_input(
        "Weight decay", value=defaults.weight_decay, format="%.1e", key="rt-f-wd"
    )
    folds = cols[3].number_input("Folds (cross-fitting)", 2, 20, defaults.folds, key="rt-folds")
    return FrozenHeadSpec(
        epochs=int(epochs), learning_rate=float(lr), weight_decay=float(decay), folds=int(folds)
    )


def _finetune_inputs() -> dict:
    """The fine-tune fields of `TrainSpec`, each widget opening on the spec's default."""
    defaults = TrainSpec(checkpoint_dir="-")
    cols = st.columns(4)
    epochs = cols[0].number_input("Epochs", min_value=1, value=defaults.epochs, key="rt-epochs")
    batch = cols[1].number_input(
        "Batch size", min_value=1, value=defaults.batch_size, key="rt-batch"
    )
    patience = cols[2].number_input(
        "Early-stop patience", min_value=0, value=defaults.patience, key="rt-pat"
    )
    freeze = cols[3].checkbox(
        "Train only the head", value=not defaults.train_encoder, key="rt-freeze"
    )
    cols = st.columns(3)
    lr = cols[0].number_input(
        "Encoder LR", value=defaults.learning_rate, format="%.1e", key="rt-lr"
    )
    head_lr = cols[1].number_input(
        "Head LR", value=defaults.head_learning_rate, format="%.1e", key="rt-head-lr"
    )
    max_length = cols[2].number_input(
        "Max tokens", min_value=8, value=defaults.max_length, key="rt-maxlen"
    )
    return {
        "epochs": int(epochs),
        "batch_size": int(batch),
        "patience": int(patience),
        "train_encoder": not freeze,
        "learning_rate": float(lr),
        "head_learning_rate": float(head_lr),
        "max_length": int(max_length),
    }


def _render_train_form(dataset_spec: DatasetSpec) -> None:
    auto = resolve_mode("auto", resolve_device("auto"))
    modes = ["frozen", "finetune"]
    mode = st.radio(
        f"Mode (default here: {auto})",
        modes,
        index=modes.index(auto),
        key="rt-mode",
        horizontal=True,
    )
    st.caption(MODE_HELP[mode])
    encoder = _encoder_input()
    name = st.text_input("Run name", value=get_spec_default(TrainSpec, "name"), key="rt-name")
    options = {"head": _frozen_head_inputs()} if mode == "frozen" else _finetune_inputs()
    # A choice among the storage root's run folders, never a typed server path.
    root = get_storage(get_cursor()).relevance
    run_dir = st.selectbox(
        "Run folder (a fine-tune run's folder resumes it)",
        ["", *list_run_folders(get_cursor())],
        format_func=lambda d: (
            "A new folder under the storage root's relevance/"
            if not d
            else str(Path(d).relative_to(root.resolve()))
        ),
        key="rt-dir",
    )
    cols = st.columns(2)
    if cols[0].button("Start training", type="primary", key="rt-start", disabled=not encoder):
        try:
            spec = TrainSpec(
                checkpoint_dir=run_dir.strip()
                or str(make_run_dir(name, mode, root=get_storage(get_cursor()).relevance)),
                name=name,
                mode=mode,
                encoder=encoder,
                dataset=dataset_spec,
                **options,
            )
            start_job(spec)
        except ValueError as exc:
            plain.error(exc)
    if mode == "frozen" and cols[1].button("Only compute features", key="rt-features"):
        start_job(FeatureSpec(encoder=encoder, dataset=dataset_spec))
    _render_latest_jobs()


def _render_latest_jobs() -> None:
    feature_job = find_latest_job("relevance-features")
    if feature_job is not None:
        render_job_status(feature_job, key="rt-features-status")
    job_id = find_latest_job("relevance-train")
    if job_id is None:
        return
    job = render_job_status(job_id, key="rt-train")
    if job is None:
        return
    run_dir = str(Path(job["spec"]["checkpoint_dir"]).resolve())
    _live_chart(run_dir, active=job["status"] in ("queued", "running"))


def _live_chart(run_dir: str, *, active: bool) -> None:
    """Epoch metrics of the job's run, polled while the job runs."""

    @st.fragment(run_every=CHART_POLL_S if active else None)
    def _chart() -> None:
        con = get_cursor()
        run = relevance_db.get_run(con, checkpoint_dir=run_dir)
        if run is None:
            st.caption("The run starts once the encoder is loaded.")
            return
        metrics = relevance_db.list_epoch_metrics(con, int(run["run_id"]))
        if metrics.is_empty():
            plain.caption(
                f"Run {run['run_id']} ({run['mode']}): computing features; the charts fill in "
                "after each epoch."
            )
            return
        held_out = "cross-fitted folds" if run["mode"] == "frozen" else "the test split"
        plain.caption(
            f"Run {run['run_id']} ({run['mode']}), {run['status']}: test loss and top-1 are "
            f"out of sample ({held_out})."
        )
        plain.plotly_chart(make_training_figure(metrics), key=f"rt-live-{run['run_id']}")

    _chart()


def _render_runs_following_training() -> None:
    """The runs table, refreshed every few seconds while a training job is queued or
    running, so a run the job starts shows up here as it does in the chart above (issue 17:
    "No training runs yet" beside "run 1 computing features")."""
    job_id = find_latest_job("relevance-train")
    job = job_db.get_job(get_cursor(), job_id) if job_id is not None else None
    active = job is not None and job["status"] in job_db.ACTIVE_STATUSES

    @st.fragment(run_every=RUNS_POLL_S if active else None)
    def _runs() -> None:
        _render_runs(get_cursor())

    _runs()


def _render_runs(con) -> None:
    runs = relevance_db.list_runs(con)
    if runs.is_empty():
        st.info("No training runs yet.")
        return
    st.dataframe(runs.drop("checkpoint_dir"), hide_index=True)
    # No status in the label: the browser keeps a selected option's label as it was sent, so
    # "training" would stay beside a finished run (the table above shows the status).
    labels = {
        int(r["run_id"]): f"run {r['run_id']} ({r['mode']})" for r in runs.iter_rows(named=True)
    }
    newest, seen = max(labels), st.session_state.get("run-newest")
    if seen is not None and newest > seen:  # a run started since: show it, not the URL's old one
        st.query_params["run"] = str(newest)
    st.session_state["run-newest"] = newest
    run_id = select_in_url("Run", list(labels), key="run", format_func=labels.get)
    metrics = relevance_db.list_epoch_metrics(con, int(run_id))
    if metrics.is_empty():
        st.caption("No finished epoch yet.")
    else:
        plain.plotly_chart(make_training_figure(metrics), key=f"rt-chart-{run_id}")


def _render_checkpoints_and_scoring(con) -> None:
    versions = relevance_db.list_model_versions(con)
    if versions.is_empty():
        st.info("No model versions yet: train a model first.")
        return
    st.dataframe(versions.drop("path", "sha256"), hide_index=True)
    usable = versions.filter(~versions["pruned"])
    labels = {
        int(r["model_version"]): f"version {r['model_version']} (run {r['run_id']}, "
        f"{r['mode']}, {r['run_status']}, top-1 {r['test_accuracy']:.3f})"
        for r in usable.iter_rows(named=True)
    }
    default = relevance_db.get_default_model_version(con)
    if default is None:
        st.warning("No finished run yet: a cancelled or stopped run is never the default.")
    options = list(labels)
    version = st.selectbox(
        "Model version to score with",
        options,
        index=options.index(default) if default in options else 0,
        format_func=labels.get,
        key=f"rt-score-version-{default}",  # a new default (a run finished) is selected
    )
    source = st.session_state.get("source")
    if st.button("Score captions", key="rt-score", disabled=version is None):
        spec = ScoringSpec(
            model_version=int(version), source=None if source in (None, ALL_SOURCES) else source
        )
        start_job(spec)
    job_id = find_latest_job("relevance-score")
    if job_id is not None:
        job = render_job_status(job_id, key="rt-score-status")
        if job and job["status"] == "succeeded" and job["result"]:
            result = job["result"]
            st.text(
                f"Scored {result['n_scored']} captions with model version "
                f"{job['spec']['model_version']}: {result['n_out_of_sample']} out of sample, "
                f"{result['n_kept_by_model']} kept by the rule at the mode's default threshold. "
                "Review them on the "
                "Review relevance page."
            )


def render() -> None:
    st.title("Caption relevance: training")
    con = get_cursor()
    st.subheader("1. Dataset")
    dataset_spec = _dataset_spec_inputs(con)
    _render_dataset_preview(con, dataset_spec)
    st.subheader("2. Train")
    _render_train_form(dataset_spec)
    st.subheader("3. Runs")
    _render_runs_following_training()
    st.subheader("4. Model versions and scoring")
    _render_checkpoints_and_scoring(con)


render()
