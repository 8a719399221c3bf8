"""Streamlit panels of the Evaluation page: results of one run, run comparison, few-shot, hierarchy.

Each panel reads through `db.evaluation` and draws with `ui.eval_figures`; text from the data
(class names, set names) is shown only through dataframes, plain text and select boxes.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from db import evaluation as eval_db
from extension.evaluation.hierarchy import compute_group_metrics
from extension.evaluation.metrics import (
    compute_auroc,
    compute_average_precision,
    compute_pr_curve,
    compute_roc_curve,
)
from ui import eval_figures, plain

METRICS = {"F1": "f1", "precision": "precision", "recall": "recall", "AUROC": "auroc", "AP": "ap"}
DECISION = ("f1", "precision", "recall")
MAX_DEFAULT_CLASSES = 8  # a chart of 200 classes is unreadable; the user can add more


def compute_metric_key(metric: str, rule: str) -> str:
    """'f1' + 'crossfit' -> 'f1@crossfit'; threshold-free metrics keep their name."""
    return f"{metric}@{rule}" if metric in DECISION else metric


def compute_references(metric: str, pos_fraction: float) -> dict[str, float]:
    """The reference lines of a metric on a set with this share of positives."""
    p = pos_fraction
    return {
        "f1": {"random": p / (p + 0.5), "all positive": 2 * p / (1 + p)},
        "precision": {"random": p, "all positive": p},
        "recall": {"random": 0.5, "all positive": 1.0},
        "auroc": {"random": 0.5},
        "ap": {"random": p},
    }[metric]


def compute_default_metric(metric_keys, rule: str) -> str:
    """The label of the first metric (in `METRICS` order) that was computed: a run of classes
    too small for decision rules has AUROC and AP only, so it opens on AUROC, not on an F1
    that is not there.

    Args:
        metric_keys: the stored metric keys of the shown runs ('auroc', 'f1@crossfit', ...).
    """
    present = set(metric_keys)
    for label, metric in METRICS.items():
        if compute_metric_key(metric, rule) in present:
            return label
    return next(iter(METRICS))


def render_metric_choice(
    key: str, rules: dict[str, str], default_rule: str, *, metric_keys=()
) -> tuple[str, str, str]:
    """Metric and decision-rule pickers; states the rule. Returns (label, metric, rule).

    Args:
        metric_keys: the metric keys the shown runs hold; the picker opens on the first.
    """
    left, right = st.columns(2)
    labels = list(METRICS)
    label = left.selectbox(
        "Metric",
        labels,
        index=labels.index(compute_default_metric(metric_keys, default_rule)),
        key=f"{key}-metric",
    )
    names = list(rules)
    rule = right.selectbox(
        "Decision rule (F1, precision, recall)",
        names,
        index=names.index(default_rule),
        key=f"{key}-rule",
    )
    if METRICS[label] in DECISION:
        st.info(f"Decision rule '{rule}': {rules[rule]}")
    else:
        st.caption(
            f"{label} is threshold-free: it ranks the images by the row's logit; random ranking "
            "scores "
            f"{'0.5' if label == 'AUROC' else 'the share of positives'}."
        )
    return label, METRICS[label], rule


def render_pooled(summary: dict) -> None:
    """The mean one-vs-rest AUROC over the classes too small for per-class figures."""
    pooled = summary.get("pooled") or {}
    if not pooled:
        return
    st.subheader("Pooled over small classes")
    st.text(f"{len(pooled['classes'])} classes: {pooled['reason']}.")
    rows = [
        {
            "head": head,
            "mean AUROC": v["value"],
            "low": v["low"],
            "high": v["high"],
            "classes": v["n_classes"],
        }
        for head, v in pooled["auroc"].items()
    ]
    st.dataframe(pl.DataFrame(rows), hide_index=True, key="res-pooled")
    st.caption("Interval: bootstrap over the classes. Random ranking scores 0.5.")


def _why_nothing_to_show(summary: dict, chosen: list[str], rule: str) -> str:
    """Why the chosen classes, heads and metric have no per-class figure."""
    pooled = set((summary.get("pooled") or {}).get("classes") or ())
    if chosen and set(chosen) <= pooled:
        return (
            "No per-class figure for these classes: each has too few images (see the pooled "
            "AUROC above)."
        )
    if rule == "argmax":
        return "Nothing to show for this choice (the argmax rule needs the base head)."
    return "Nothing to show for this choice."


def render_run_results(con, run: dict) -> None:
    """Figure 2-style chart, the metrics table with intervals, ROC and PR of one class; the
    pooled AUROC of the classes too small for those."""
    summary = run["summary"]
    render_pooled(summary)
    metrics = eval_db.list_eval_metrics(con, [run["run_id"]])
    if metrics.is_empty():
        st.warning("This run has no metrics.")
        return
    left, right = st.columns(2)
    classes = metrics.select("wnid", "name").unique(maintain_order=True)
    if classes.height > MAX_DEFAULT_CLASSES:
        st.caption(
            f"The chart shows {MAX_DEFAULT_CLASSES} of the run's {classes.height} classes at "
            "first: add more in the class picker."
        )
    chosen = left.multiselect(
        "Classes",
        classes["wnid"].to_list(),
        default=classes["wnid"].to_list()[:MAX_DEFAULT_CLASSES],
        format_func=dict(classes.iter_rows()).get,
        key="res-classes",
    )
    methods = metrics["method"].unique(maintain_order=True).to_list()
    shown = right.multiselect("Heads", methods, default=methods, key="res-methods")
    label, metric, rule = render_metric_choice(
        "res", summary["rules"], summary["default_rule"], metric_keys=metrics["metric"].unique()
    )
    key = compute_metric_key(metric, rule)
    part = metrics.filter(
        pl.col("wnid").is_in(chosen) & pl.col("method").is_in(shown) & (pl.col("metric") == key)
    )
    if part.is_empty():
        st.info(_why_nothing_to_show(summary, chosen, rule))
        return
    p = float((part["n_pos"] / (part["n_pos"] + part["n_neg"])).mean())
    plain.plotly_chart(
        eval_figures.make_metric_bars_figure(
            part,
            metric_label=f"{label} ({rule})" if metric in DECISION else label,
            references=compute_references(metric, p),
        ),
        key="res-bars",
    )
    st.dataframe(
        _wide_table(
            metrics.filter(pl.col("wnid").is_in(chosen) & pl.col("method").is_in(shown)), rule
        ),
        hide_index=True,
    )
    _render_curves(con, run["run_id"], chosen, shown, dict(classes.iter_rows()))


def _wide_table(metrics: pl.DataFrame, rule: str) -> pl.DataFrame:
    keys = {
        "auroc": "AUROC",
        "ap": "AP",
        f"f1@{rule}": "F1",
        f"precision@{rule}": "precision",
        f"recall@{rule}": "recall",
    }
    rows = metrics.filter(pl.col("metric").is_in(list(keys))).with_columns(
        pl.col("metric").replace_strict(keys).alias("metric"),
        pl.format(
            "{} [{}, {}]",
            pl.col("value").round(3),
            pl.col("ci_low").round(3),
            pl.col("ci_high").round(3),
        ).alias("cell"),
    )
    wide = rows.pivot(
        on="metric", index=["name", "wnid", "method", "n_pos", "n_neg"], values="cell"
    )
    return wide.select(
        "name", "wnid", "method", "n_pos", "n_neg", *[c for c in keys.values() if c in wide.columns]
    )


def _render_curves(con, run_id: int, classes: list[str], methods: list[str], names: dict) -> None:
    if not classes:
        return
    wnid = st.selectbox(
        "ROC and precision-recall of class", classes, format_func=names.get, key="res-curve-class"
    )
    scores = eval_db.list_eval_scores(con, run_id, wnid=wnid, methods=methods)
    roc, pr = {}, {}
    for method in methods:
        part = scores.filter(pl.col("method") == method)
        if part.is_empty():
            continue
        labels, values = part["label"].to_numpy(), part["score"].to_numpy()
        r, c = compute_roc_curve(labels, values), compute_pr_curve(labels, values)
        auroc, ap = compute_auroc(labels, values), compute_average_precision(labels, values)
        roc[method], pr[method] = (r["fpr"], r["tpr"], auroc), (c["recall"], c["precision"], ap)
    if roc:
        p = float(scores.filter(pl.col("method") == methods[0])["label"].mean())
        left, right = st.columns(2)
        plain.plotly_chart(eval_figures.make_roc_figure(roc), where=left, key="res-roc")
        plain.plotly_chart(
            eval_figures.make_pr_figure(pr, pos_fraction=p), where=right, key="res-pr"
        )


def render_comparison(con, runs: pl.DataFrame) -> None:
    """Saved protocol runs side by side on one metric."""
    options = runs["run_id"].to_list()
    labels = {r: f"run {r}: {n}" for r, n in runs.select("run_id", "name").iter_rows()}
    chosen = st.multiselect(
        "Runs", options, default=options[:2], format_func=labels.get, key="cmp-runs"
    )
    if not chosen:
        return
    metrics = eval_db.list_eval_metrics(con, chosen)
    label, metric, rule = render_metric_choice(
        "cmp",
        eval_db.get_eval_run(con, chosen[0])["summary"]["rules"],
        "crossfit",
        metric_keys=metrics["metric"].unique(),
    )
    part = metrics.filter(pl.col("metric") == compute_metric_key(metric, rule)).with_columns(
        pl.format("run {}", pl.col("run_id")).alias("run")
    )
    if part.is_empty():
        st.info("Nothing to compare for this choice.")
        return
    plain.plotly_chart(
        eval_figures.make_run_comparison_figure(part, metric_label=label), key="cmp-bars"
    )
    wide = part.pivot(on="run", index=["name", "wnid", "method"], values="value")
    st.dataframe(wide, hide_index=True)


def render_fewshot(con, runs: pl.DataFrame) -> None:
    """Metric-vs-k curves of a few-shot run, next to the untrained synthesized and trained rows."""
    labels = {r: f"run {r}: {n}" for r, n in runs.select("run_id", "name").iter_rows()}
    run_id = st.selectbox(
        "Few-shot run", runs["run_id"].to_list(), format_func=labels.get, key="fs-run"
    )
    results = eval_db.list_fewshot_results(con, int(run_id))
    if results.is_empty():
        st.info("This run has no results.")
        return
    classes = results.select("wnid", "name").unique(maintain_order=True)
    left, right = st.columns(2)
    wnid = left.selectbox(
        "Class",
        ["(mean over classes)", *classes["wnid"].to_list()],
        format_func=lambda w: dict(classes.iter_rows()).get(w, w),
        key="fs-class",
    )
    label = right.selectbox(
        "Metric", ["AUROC", "AP", "F1 (logit > 0)", "F1 (crossfit)"], key="fs-metric"
    )
    metric = {
        "AUROC": "auroc",
        "AP": "ap",
        "F1 (logit > 0)": "f1@logit0",
        "F1 (crossfit)": "f1@crossfit",
    }[label]
    part = results.filter(pl.col("metric") == metric)
    if wnid != "(mean over classes)":
        part = part.filter(pl.col("wnid") == wnid)
    per = part.group_by("init", "k", "wnid").agg(pl.col("value").mean())
    curves = (
        per.filter(pl.col("k") > 0)
        .group_by("init", "k")
        .agg(pl.col("value").mean().alias("mean"), pl.col("value").std().alias("std"))
        .sort("init", "k")
    )
    flat = (
        per.filter(pl.col("k") == 0)
        .group_by("init")
        .agg(pl.col("value").mean().alias("mean"))
        .sort("init")
    )
    plain.plotly_chart(
        eval_figures.make_fewshot_figure(curves, metric_label=label, flat=flat), key="fs-curves"
    )
    st.caption(
        "F1 (logit > 0) is meaningful for the few-shot rows (trained as balanced binary "
        "classifiers); "
        "compare the synthesized rows on AUROC/AP or crossfit F1."
    )
    st.dataframe(curves.pivot(on="init", index="k", values="mean").sort("k"), hide_index=True)


def render_hierarchy(con, runs: pl.DataFrame) -> None:
    """Mean metric per WordNet group for one protocol run."""
    labels = {r: f"run {r}: {n}" for r, n in runs.select("run_id", "name").iter_rows()}
    run_id = st.selectbox("Run", runs["run_id"].to_list(), format_func=labels.get, key="hier-run")
    run = eval_db.get_eval_run(con, int(run_id))
    stored = eval_db.list_eval_metrics(con, [int(run_id)])
    label, metric, rule = render_metric_choice(
        "hier",
        run["summary"]["rules"],
        run["summary"]["default_rule"],
        metric_keys=stored["metric"].unique(),
    )
    metrics = stored.filter(pl.col("metric") == compute_metric_key(metric, rule))
    if metrics.is_empty():
        st.info("Nothing to show for this choice.")
        return
    groups = compute_group_metrics(metrics)
    st.caption(
        "Groups from WordNet hypernyms (K-LITE paths; ImageNet-X metaclasses, CC BY-NC 4.0, "
        "where the "
        "path is missing or follows another word sense). Evaluate many classes for a meaningful "
        "view."
    )
    plain.plotly_chart(eval_figures.make_group_figure(groups, metric_label=label), key="hier-bars")
    st.dataframe(
        groups.select("group", "method", "n_classes", "mean", "std", "min", "max"), hide_index=True
    )
