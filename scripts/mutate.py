"""Mutation check: do the tests fail when the science or the data safety breaks?

Each mutation below replaces one snippet of product code (it must occur exactly once in its
file) by a wrong variant a plausible slip would produce, and names the tests that should
fail on it. The harness copies the tree once to a temporary folder, then for each mutation
writes the mutated file into the copy, runs only the named tests there (`pytest -x`, a
timeout), restores the file, and records 'killed' (a named test failed or errored),
'survived' (they all passed: a gap in the tests), 'timeout', 'stale' (the snippet is no
longer in the file: update the list) or 'error' (pytest found no such test). The working tree
is never modified. First, a baseline run checks that the named tests pass (and none is
skipped) on the unmutated copy.

    .venv/bin/python scripts/mutate.py            # all; writes benchmarks/results/mutate.md|json
    .venv/bin/python scripts/mutate.py --list     # the mutations, no run
    .venv/bin/python scripts/mutate.py --only paper-   # names containing 'paper-' (no write)

Exit status 0 only when every mutation is killed. `make mutate` runs it; CI does not (time).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks import run_record  # noqa: E402

# Not copied: history, environments, data, caches, results.
_IGNORED = (".git", "__pycache__", ".pytest_cache", ".ruff_cache")  # at any depth
_IGNORED_PATHS = (".venv", "data", ".cache", "benchmarks/results")  # from the root

SYN = "tests/unit/test_extension_synthesis.py::"
CAL = "tests/unit/test_extension_calibration.py::"
EVM = "tests/unit/test_evaluation_metrics.py::"
EXM = "tests/unit/test_extension_metrics.py::"
RUL = "tests/unit/test_relevance_rules.py::"
FRZ = "tests/unit/test_relevance_frozen.py::"
CAP = "tests/unit/test_captions.py::"
DSC = "tests/unit/test_descriptions.py::"
REV = "tests/unit/test_relevance_review.py::"
JOB = "tests/unit/test_jobs.py::"
PLN = "tests/unit/test_plain.py::"
ENC = "tests/unit/test_encoders.py::"
CLN = "tests/unit/test_class_names.py::"
ISS = "tests/unit/test_relevance_issues.py::"


@dataclass(frozen=True)
class Mutation:
    """One wrong variant of one snippet, and the tests that must fail on it."""

    name: str
    file: str
    original: str
    mutated: str
    tests: tuple[str, ...]


MUTATIONS: tuple[Mutation, ...] = (
    # Synthesis: the paper's rule, its normalisation, the other methods, the distances.
    Mutation(
        "paper-weights-inverse-square",
        "extension/synthesis/methods.py",
        "1.0 / dist.clamp_min(1e-12), torch.zeros_like(dist))",
        "1.0 / dist.clamp_min(1e-12) ** 2, torch.zeros_like(dist))",
        (SYN + "test_paper_rule_three_survivors_weighted_by_inverse_distance",),
    ),
    Mutation(
        "paper-no-cut-at-the-mean",
        "extension/synthesis/methods.py",
        "return _normalize(torch.where(weights < mean, torch.zeros_like(weights), weights))",
        "return _normalize(weights)",
        (SYN + "test_paper_rule_three_survivors_weighted_by_inverse_distance",),
    ),
    Mutation(
        "paper-mean-over-every-column",
        "extension/synthesis/methods.py",
        "mean = weights.sum(dim=1, keepdim=True) / mask.sum(dim=1, keepdim=True)",
        "mean = weights.sum(dim=1, keepdim=True) / weights.shape[1]",
        (SYN + "test_paper_rule_three_survivors_weighted_by_inverse_distance",),
    ),
    Mutation(
        "paper-cut-at-or-below-the-mean",
        "extension/synthesis/methods.py",
        "torch.where(weights < mean,",
        "torch.where(weights <= mean,",
        (SYN + "test_paper_rule_equidistant_donors_all_survive_with_equal_weights",),
    ),
    Mutation(
        "synthesis-weights-not-normalised",
        "extension/synthesis/methods.py",
        "    return weights / total",
        "    return weights",
        (SYN + "test_paper_rule_three_survivors_weighted_by_inverse_distance",),
    ),
    Mutation(
        "synthesis-excluded-donor-used",
        "extension/synthesis/methods.py",
        "mask[rows, self.exclude[rows]] = False",
        "mask[rows, self.exclude[rows]] = True",
        (SYN + "test_paper_rule_two_survivors_and_excluded_donor_never_used",),
    ),
    Mutation(
        "topk-inverse-weights-squared",
        "extension/synthesis/methods.py",
        "else 1.0 / vals.clamp_min(1e-12)",
        "else 1.0 / vals.clamp_min(1e-12) ** 2",
        (SYN + "test_topk_inverse_weights_by_hand",),
    ),
    Mutation(
        "softmax-sign",
        "extension/synthesis/methods.py",
        "torch.softmax(-dist / (temperature * scale), dim=1)",
        "torch.softmax(dist / (temperature * scale), dim=1)",
        (SYN + "test_softmax_weights_by_hand",),
    ),
    Mutation(
        "ridge-loo-sign",
        "extension/synthesis/methods.py",
        "rows = -inverse[e] / inverse[e, e][:, None]",
        "rows = inverse[e] / inverse[e, e][:, None]",
        (SYN + "test_ridge_leave_one_out_equals_an_explicit_refit",),
    ),
    Mutation(
        "rescale-norm-counts-the-excluded-donor",
        "extension/synthesis/rescale.py",
        "    count[has] = n - 1",
        "    count[has] = n",
        (SYN + "test_topk_uniform_and_norm_rescaling",),
    ),
    Mutation(
        "cosine-not-normalised",
        "extension/text/distances.py",
        "return 1.0 - cross / norms.clamp_min(1e-300)",
        "return 1.0 - cross",
        (SYN + "test_cosine_and_euclidean_by_hand",),
    ),
    Mutation(
        "euclidean-cross-term-halved",
        "extension/text/distances.py",
        "base_sq[None, :] - 2.0 * cross",
        "base_sq[None, :] - cross",
        (SYN + "test_cosine_and_euclidean_by_hand",),
    ),
    # Calibration (label-free biases).
    Mutation(
        "zscore-sign",
        "extension/synthesis/calibration.py",
        'return context.mean - float(params["z"]) * context.std',
        'return context.mean + float(params["z"]) * context.std',
        (CAL + "test_zscore_and_share_by_hand",),
    ),
    Mutation(
        "calibration-own-images-not-excluded",
        "extension/synthesis/calibration.py",
        "margins = torch.where(own, nan, competitor - scores)",
        "margins = competitor - scores",
        (
            CAL + "test_zscore_and_share_by_hand",
            CAL + "test_new_class_row_ignores_photos_filed_under_its_own_id",
        ),
    ),
    Mutation(
        "calibration-replaced-row-competes",
        "extension/synthesis/calibration.py",
        "competitor = torch.where(own_is_top, top.values[:, -1:], top.values[:, :1])",
        "competitor = top.values[:, :1]",
        (
            CAL + "test_zscore_and_share_by_hand",
            CAL + "test_loo_row_ignores_its_own_calibration_images",
        ),
    ),
    Mutation(
        "share-quantile-flipped",
        "extension/synthesis/calibration.py",
        "torch.nanquantile(context.margins, share, dim=0)",
        "torch.nanquantile(context.margins, 1.0 - share, dim=0)",
        (CAL + "test_zscore_and_share_by_hand",),
    ),
    Mutation(
        "fitted-z-sees-the-rows-own-photos",
        "extension/synthesis/calibration.py",
        "calibration, params, select_images(images, excluded), synthesize_once, base_classes",
        "calibration, params, images, synthesize_once, base_classes",
        (CAL + "test_loo_row_ignores_its_own_calibration_images",),
    ),
    # Metrics.
    Mutation(
        "auroc-ties-by-order",
        "extension/evaluation/metrics.py",
        "(start + end) / 2.0 + 1.0, axis=0)",
        "position + 1.0, axis=0)",
        (EVM + "test_auroc_ties_count_half",),
    ),
    Mutation(
        "auroc-rank-offset",
        "extension/evaluation/metrics.py",
        "(rank_sum - n_pos * (n_pos + 1) / 2)",
        "(rank_sum - n_pos * (n_pos - 1) / 2)",
        (EVM + "test_auroc_counts_ordered_pairs",),
    ),
    Mutation(
        "ap-ties-not-grouped",
        "extension/evaluation/metrics.py",
        "np.take_along_axis(true_pos, end, axis=0) / (end + 1.0)",
        "true_pos / (position + 1.0)",
        (EVM + "test_average_precision_groups_tied_scores",),
    ),
    Mutation(
        "f1-without-the-factor-two",
        "extension/evaluation/metrics.py",
        "f1 = np.where(total > 0, 2 * tp / total, 0.0)",
        "f1 = np.where(total > 0, tp / total, 0.0)",
        (EVM + "test_decision_metrics_hand_example",),
    ),
    Mutation(
        "thousand-way-own-row-competes",
        "extension/evaluation/metrics.py",
        "rank = ((top_vals[:, None, :] > scores[:, :, None]) & ~own).sum(2)",
        "rank = (top_vals[:, None, :] > scores[:, :, None]).sum(2)",
        (EXM + "test_thousand_way_recall_precision_by_hand",),
    ),
    # Relevance rules: thresholds, the mean rule, coefficients, human decisions.
    Mutation(
        "frozen-threshold-0.5",
        "curation/relevance/rules.py",
        "FROZEN_THRESHOLD = 0.05",
        "FROZEN_THRESHOLD = 0.5",
        (RUL + "test_frozen_threshold_is_five_hundredths_and_a_score_exactly_at_it_is_kept",),
    ),
    Mutation(
        "paper-threshold-0.45",
        "curation/relevance/rules.py",
        "GLOBAL_THRESHOLD = 0.5",
        "GLOBAL_THRESHOLD = 0.45",
        (RUL + "test_paper_threshold_is_half_and_a_score_exactly_at_it_is_kept",),
    ),
    Mutation(
        "score-at-the-threshold-dropped",
        "curation/relevance/rules.py",
        '(pl.col("p_own") >= pl.col("threshold"))',
        '(pl.col("p_own") > pl.col("threshold"))',
        (RUL + "test_paper_threshold_is_half_and_a_score_exactly_at_it_is_kept",),
    ),
    Mutation(
        "p-mean-rule-removed",
        "curation/relevance/rules.py",
        'return (pl.col("p_own") >= pl.col("p_mean")) & (pl.col("p_own") >= pl.col("threshold"))',
        'return pl.col("p_own") >= pl.col("threshold")',
        (RUL + "test_decisions_drop_below_mean_or_threshold_and_normalise_kept",),
    ),
    Mutation(
        "score-at-the-mean-dropped",
        "curation/relevance/rules.py",
        '(pl.col("p_own") >= pl.col("p_mean"))',
        '(pl.col("p_own") > pl.col("p_mean"))',
        (RUL + "test_a_score_exactly_at_the_class_mean_is_kept_and_just_below_is_dropped",),
    ),
    Mutation(
        "full-relevance-cut-at-0.95",
        "curation/relevance/rules.py",
        "FULL_RELEVANCE = 0.9",
        "FULL_RELEVANCE = 0.95",
        (RUL + "test_coefficients_at_the_full_relevance_cut_and_ties",),
    ),
    Mutation(
        "relevance-bonus-dropped",
        "curation/relevance/rules.py",
        "RELEVANCE_BONUS = 0.1",
        "RELEVANCE_BONUS = 0.0",
        (RUL + "test_raw_and_uniform_coefficients_by_hand",),
    ),
    Mutation(
        "cdf-ties-take-the-lowest-rank",
        "curation/relevance/rules.py",
        'np.searchsorted(ordered, raw, side="right")',
        'np.searchsorted(ordered, raw, side="left")',
        (RUL + "test_coefficients_at_the_full_relevance_cut_and_ties",),
    ),
    Mutation(
        "model-decision-wins-over-a-person",
        "curation/relevance/rules.py",
        'pl.coalesce("human_decision", "model_decision")',
        'pl.coalesce("model_decision", "human_decision")',
        (RUL + "test_class_threshold_and_human_decisions_win",),
    ),
    Mutation(
        "dropped-captions-get-a-coefficient",
        "curation/relevance/rules.py",
        "coefficient[kept] = compute_uniform_coefficients(raw[kept])",
        "coefficient = compute_uniform_coefficients(raw)",
        (RUL + "test_decisions_drop_below_mean_or_threshold_and_normalise_kept",),
    ),
    # Cross-fitting: a caption's fold is held out of the head that scores it.
    Mutation(
        "cross-fit-every-head-trains-on-every-fold",
        "curation/relevance/frozen.py",
        "mask = (fold_ids[rows][:, None] != heads[None, :]).float()",
        "mask = torch.ones(len(rows), len(heads))",
        (FRZ + "test_cross_fitted_heads_score_flipped_labels_out_of_sample",),
    ),
    Mutation(
        "scoring-uses-the-mean-head-for-trained-captions",
        "curation/relevance/frozen_run.py",
        "(fold_of.get(int(c), frozen.MEAN_HEAD) for c in caption_ids)",
        "(frozen.MEAN_HEAD for c in caption_ids)",
        (FRZ + "test_frozen_scores_are_out_of_sample_with_a_suggested_class",),
    ),
    # Class names in the suspect scores: longest phrase first, shared lemmas, the wiring.
    Mutation(
        "class-names-shortest-phrase-first",
        "curation/relevance/class_names.py",
        "for n in range(min(index.max_words, len(words) - i), 0, -1):",
        "for n in range(1, min(index.max_words, len(words) - i) + 1):",
        (CLN + "test_the_longest_phrase_wins_so_tiger_shark_does_not_name_the_tiger",),
    ),
    Mutation(
        "class-names-shared-lemma-counts-as-another-class",
        "curation/relevance/class_names.py",
        "if int(label) in rows:",
        "if rows == {int(label)}:",
        (CLN + "test_a_lemma_shared_by_two_classes_counts_as_the_own_class",),
    ),
    Mutation(
        "suspect-scores-ignore-the-class-names",
        "curation/relevance/issues.py",
        "else _check_length(names[name], labels)",
        "else np.zeros(len(labels))",
        (ISS + "test_a_caption_naming_another_class_is_more_suspect_than_its_twin_naming_its_own",),
    ),
    # The one text-vector cache: keys, and one cache for relevance features and embeddings.
    Mutation(
        "text-key-ignores-max-length",
        "encoders/cache.py",
        'hash_bytes(f"{int(max_length)}\\n{text}".encode())',
        'hash_bytes(f"\\n{text}".encode())',
        (FRZ + "test_features_are_computed_once_per_encoder_weights_max_length_and_text",),
    ),
    Mutation(
        "embeddings-in-a-cache-of-their-own",
        "encoders/text_encoder.py",
        "folder = resolve_cache_dir(cache_dir) / TEXT_FEATURES_FOLDER",
        'folder = resolve_cache_dir(cache_dir) / "text-embeddings"',
        (ENC + "test_relevance_features_then_embeddings_encode_each_text_once",),
    ),
    # Ingest validation.
    Mutation(
        "whitespace-only-filename-accepted",
        "db/caption_staging.py",
        "trim(filename) = ''",
        "filename = ''",
        (CAP + "test_malformed_records_are_reported_with_index_field_and_reason",),
    ),
    Mutation(
        "duplicate-filename-accepted",
        "db/caption_staging.py",
        "(PARTITION BY filename) AS first_idx",
        "(PARTITION BY filename, idx) AS first_idx",
        (CAP + "test_malformed_records_are_reported_with_index_field_and_reason",),
    ),
    # Description history and revert; actors.
    Mutation(
        "actor-not-trimmed",
        "curation/access.py",
        "    actor = actor.strip() if isinstance(actor, str) else None",
        "    actor = actor if isinstance(actor, str) else None",
        (DSC + "test_actor_names_are_recorded_trimmed",),
    ),
    Mutation(
        "revert-restores-the-text-after",
        "curation/descriptions.py",
        'text=event["text_before"],',
        'text=event["text_after"],',
        (DSC + "test_pick_edit_history_revert_and_revert_of_revert",),
    ),
    Mutation(
        "decision-actor-not-trimmed",
        "curation/relevance/decisions.py",
        "    return value.strip()",
        "    return value",
        (REV + "test_decision_actor_and_reason_are_recorded_trimmed",),
    ),
    # Job cancel.
    Mutation(
        "cancel-leaves-a-queued-job-queued",
        "db/jobs.py",
        "\"status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END, \"",
        '"status = status, "',
        (JOB + "test_a_queued_job_cancelled_before_a_worker_claims_it_never_runs",),
    ),
    Mutation(
        "worker-claims-cancelled-jobs",
        "db/jobs.py",
        "FROM jobs WHERE status = 'queued' ",
        "FROM jobs WHERE status IN ('queued', 'cancelled') ",
        (JOB + "test_a_queued_job_cancelled_before_a_worker_claims_it_never_runs",),
    ),
    # Plain rendering of data and user text.
    Mutation(
        "no-word-joiner",
        "ui/plain.py",
        "text = _UNESCAPABLE.sub(_WORD_JOINER, str(text))",
        "text = str(text)",
        (PLN + "test_autolinks_and_shortcodes_are_broken_by_a_word_joiner",),
    ),
    Mutation(
        "shortcodes-not-broken",
        "ui/plain.py",
        "|(?=@)|(?<=:)(?=[a-z])",
        "|(?=@)",
        (PLN + "test_no_autolink_or_shortcode_survives_escaping",),
    ),
    Mutation(
        "angle-brackets-not-escaped",
        "ui/plain.py",
        "!|<>~$",
        "!|~$",
        (PLN + "test_commonmark_renders_the_escaped_text_as_one_plain_paragraph",),
    ),
    Mutation(
        "suspect-rule-keeps-at-the-threshold",
        "curation/relevance/rules.py",
        'return worst < pl.col("threshold")',
        'return worst <= pl.col("threshold")',
        (RUL + "test_the_suspect_rule_drops_at_and_above_its_threshold_with_literal_values",),
    ),
    Mutation(
        "decision-changed-meanwhile-overwritten",
        "curation/relevance/decisions.py",
        "    if seen_event == NOT_CHECKED:\n",
        "    if True:\n",
        (
            REV + "test_a_decision_changed_meanwhile_is_refused_and_kept",
            REV + "test_a_threshold_changed_meanwhile_is_refused_and_kept",
        ),
    ),
)


def copy_tree(destination: Path) -> Path:
    """A copy of the working tree (no history, environments, data or caches) at
    `destination/repo`, with `../shared` linked beside it as the tests expect."""
    repo = destination / "repo"

    def ignore(folder: str, names: list[str]) -> set[str]:
        relative = Path(folder).relative_to(REPO_ROOT)
        return {n for n in names if n in _IGNORED or (relative / n).as_posix() in _IGNORED_PATHS}

    shutil.copytree(REPO_ROOT, repo, ignore=ignore, symlinks=True)
    shared = REPO_ROOT.parent / "shared"
    if shared.exists():
        (destination / "shared").symlink_to(shared, target_is_directory=True)
    return repo


def run_tests(
    repo: Path, tests: tuple[str, ...], timeout_s: float, *, lines: int = 3
) -> tuple[int | None, str]:
    """pytest on `tests` in the copy: (exit status or None on timeout, last output lines)."""
    env = {**os.environ, "PYTHONPATH": str(repo), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-rs", "-p", "no:cacheprovider"]
    try:
        done = subprocess.run(
            [*command, *tests],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return None, ""
    return done.returncode, "\n".join((done.stdout + done.stderr).strip().splitlines()[-lines:])


def run_mutation(repo: Path, mutation: Mutation, timeout_s: float) -> dict:
    """Apply one mutation to the copy, run its tests, restore the file. Returns its record."""
    path = repo / mutation.file
    original = path.read_text(encoding="utf-8")
    record = {**asdict(mutation), "tests": list(mutation.tests), "seconds": 0.0, "tail": ""}
    if original.count(mutation.original) != 1:
        return {**record, "status": "stale"}
    started = time.perf_counter()
    try:
        path.write_text(original.replace(mutation.original, mutation.mutated), encoding="utf-8")
        code, tail = run_tests(repo, mutation.tests, timeout_s)
    finally:
        path.write_text(original, encoding="utf-8")
    status = {None: "timeout", 0: "survived", 1: "killed", 2: "killed"}.get(code, "error")
    return {
        **record,
        "status": status,
        "seconds": round(time.perf_counter() - started, 1),
        "tail": tail,
    }


def check_baseline(repo: Path, mutations: list[Mutation], timeout_s: float) -> None:
    """Every named test passes, and none is skipped, on the unmutated copy."""
    tests = tuple(dict.fromkeys(t for m in mutations for t in m.tests))
    code, tail = run_tests(repo, tests, timeout_s * 4, lines=30)
    if code != 0 or "skipped" in tail:
        raise SystemExit(f"Baseline: the named tests must pass unmutated (and not skip):\n{tail}")


def format_markdown(records: list[dict], meta: dict) -> str:
    counts = {s: sum(r["status"] == s for r in records) for s in ("killed", "survived")}
    lines = [
        "# Mutation check",
        "",
        f"`{meta['command']}`: {len(records)} mutations, {counts['killed']} killed, "
        f"{counts['survived']} survived, {len(records) - sum(counts.values())} other; "
        f"{meta['seconds']:.0f} s, load average {meta['load_before']} -> {meta['load_after']} "
        f"({meta['cpu_count']} CPUs).",
        "",
        "| mutation | file | status | s | tests |",
        "|---|---|---|---|---|",
    ]
    for r in records:
        tests = ", ".join(t.split("::")[-1] for t in r["tests"])
        lines.append(f"| {r['name']} | {r['file']} | {r['status']} | {r['seconds']} | {tests} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the mutations whose name contains this")
    parser.add_argument("--list", action="store_true", help="print the mutations and exit")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per mutation")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if args.only in m.name]
    if args.list:
        for m in chosen:
            print(f"{m.name:48} {m.file}")
        return 0
    started, load_before = time.perf_counter(), run_record.read_load_average()
    with tempfile.TemporaryDirectory(prefix="mutate-") as folder:
        repo = copy_tree(Path(folder))
        if not args.skip_baseline:
            check_baseline(repo, chosen, args.timeout)
        records = []
        for mutation in chosen:
            records.append(run_mutation(repo, mutation, args.timeout))
            r = records[-1]
            print(f"{r['status']:9} {r['seconds']:6.1f}s  {r['name']}", flush=True)
    meta = {
        "command": "python scripts/mutate.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "seconds": time.perf_counter() - started,
        "load_before": load_before,
        "load_after": run_record.read_load_average(),
        "cpu_count": os.cpu_count(),
    }
    if not args.only:
        run_record.write_results(
            "mutate", {**meta, "mutations": records}, format_markdown(records, meta)
        )
    return 0 if all(r["status"] == "killed" for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
