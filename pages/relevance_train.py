"""Train relevance: dataset preview, encoder choice, training job with live charts,
checkpoints, and a scoring job."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from curation.relevance.dataset import build_relevance_dataset
from curation.relevance.model import list_encoder_aliases
from curation.relevance.specs import DatasetSpec, ScoringSpec, TrainSpec
from db import relevance as relevance_db
from ui.relevance_figures import make_training_figure
from ui.resources import get_cursor, start_job
from ui.widgets import render_job_status

OTHER_ENCODER = "Other: Hugging Face name or local path"
DEFAULT_RUN_ROOT = Path("data") / "relevance"


def _dataset_spec_inputs() -> DatasetSpec:
    cols = st.columns(3)
    max_classes = cols[0].number_input(
        "Classes (0 = all)", min_value=0, value=0, step=10, key="rt-max-classes"
    )
    seed = cols[1].number_input("Split seed", min_value=0, value=0, key="rt-seed")
    max_sentences = cols[2].number_input(
        "Sentences per class (max)", min_value=1, max_value=10, value=10, key="rt-max-sentences"
    )
    return DatasetSpec(
        seed=int(seed), max_classes=int(max_classes), max_sentences=int(max_sentences)
    )


def _render_dataset_preview(con, spec: DatasetSpec) -> None:
    if st.button("Preview dataset", key="rt-preview"):
        try:
            dataset = build_relevance_dataset(con, spec)
        except ValueError as exc:
            st.error(str(exc))
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
        f"Skipped: {report['n_skipped_short']} empty/one-word captions, "
        f"{report['n_skipped_no_description']} captions of "
        f"{len(report['classes_without_description'])} classes without a description; "
        f"{report['n_classes_short_description']} classes have fewer than 2 sentences; "
        f"{report['n_non_ascii_heavy']} captions look non-English."
    )
    if report["classes_without_description"]:
        with st.expander("Classes without a description (excluded)"):
            st.dataframe({"wnid": report["classes_without_description"]}, hide_index=True)
    st.dataframe(per_class, hide_index=True, height=240)


def _encoder_input() -> str:
    choices = [*list_encoder_aliases(), OTHER_ENCODER]
    choice = st.selectbox("Encoder", choices, key="rt-encoder")
    if choice != OTHER_ENCODER:
        return choice
    return st.text_input("Encoder name or path (e.g. roberta-base)", key="rt-encoder-other")


def _render_train_form(dataset_spec: DatasetSpec) -> None:
    encoder = _encoder_input()
    cols = st.columns(4)
    name = cols[0].text_input("Run name", value="relevance", key="rt-name")
    epochs = cols[1].number_input("Epochs", min_value=1, value=3, key="rt-epochs")
    batch = cols[2].number_input("Batch size", min_value=1, value=32, key="rt-batch")
    patience = cols[3].number_input("Early-stop patience", min_value=0, value=3, key="rt-pat")
    cols = st.columns(4)
    lr = cols[0].number_input("Encoder LR", value=5e-5, format="%.1e", key="rt-lr")
    head_lr = cols[1].number_input("Head LR", value=1e-3, format="%.1e", key="rt-head-lr")
    max_length = cols[2].number_input("Max tokens", min_value=8, value=128, key="rt-maxlen")
    freeze = cols[3].checkbox("Train only the head (fast on CPU)", key="rt-freeze")
    run_dir = st.text_input(
        "Checkpoint folder (an existing run's folder resumes it)",
        value=str(DEFAULT_RUN_ROOT / name),
        key="rt-dir",
    )
    if st.button("Start training", type="primary", key="rt-start", disabled=not encoder):
        try:
            spec = TrainSpec(
                checkpoint_dir=run_dir,
                name=name,
                encoder=encoder,
                dataset=dataset_spec,
                epochs=int(epochs),
                batch_size=int(batch),
                learning_rate=float(lr),
                head_learning_rate=float(head_lr),
                max_length=int(max_length),
                patience=int(patience),
                train_encoder=not freeze,
            )
        except ValueError as exc:
            st.error(str(exc))
            return
        st.session_state["rt-train-job"] = start_job("relevance-train", spec.to_dict())
    if "rt-train-job" in st.session_state:
        render_job_status(st.session_state["rt-train-job"], key="rt-train")


def _render_runs(con) -> None:
    runs = relevance_db.list_runs(con)
    if runs.is_empty():
        st.info("No training runs yet.")
        return
    st.dataframe(runs.drop("checkpoint_dir"), hide_index=True)
    run_id = st.selectbox(
        "Run", runs["run_id"].to_list(), key="rt-run", format_func=lambda r: f"run {r}"
    )

    @st.fragment(run_every=2.0)
    def _live_charts() -> None:
        metrics = relevance_db.list_epoch_metrics(get_cursor(), int(run_id))
        if metrics.is_empty():
            st.caption("No finished epoch yet; the charts fill in after each epoch.")
            return
        st.plotly_chart(make_training_figure(metrics), key=f"rt-chart-{run_id}")

    _live_charts()


def _render_checkpoints_and_scoring(con) -> None:
    versions = relevance_db.list_model_versions(con)
    if versions.is_empty():
        st.info("No checkpoints yet: train a model first.")
        return
    st.dataframe(versions.drop("path", "sha256"), hide_index=True)
    usable = versions.filter(~versions["pruned"])["model_version"].to_list()
    default = relevance_db.get_default_model_version(con)
    version = st.selectbox(
        "Model version to score with",
        usable,
        key="rt-score-version",
        index=usable.index(default) if default in usable else 0,
    )
    batch = st.number_input(
        "Scoring batch size (0 = automatic: 128 on a GPU, 32 on the CPU)",
        min_value=0,
        value=0,
        key="rt-score-batch",
    )
    if st.button("Score captions", key="rt-score"):
        spec = ScoringSpec(model_version=int(version), batch_size=int(batch))
        st.session_state["rt-score-job"] = start_job("relevance-score", spec.to_dict())
    if "rt-score-job" in st.session_state:
        render_job_status(st.session_state["rt-score-job"], key="rt-score-status")


def render() -> None:
    st.title("Caption relevance: training")
    con = get_cursor()
    st.subheader("1. Dataset")
    dataset_spec = _dataset_spec_inputs()
    _render_dataset_preview(con, dataset_spec)
    st.subheader("2. Train")
    _render_train_form(dataset_spec)
    st.subheader("3. Runs")
    _render_runs(con)
    st.subheader("4. Checkpoints and scoring")
    _render_checkpoints_and_scoring(con)


render()
