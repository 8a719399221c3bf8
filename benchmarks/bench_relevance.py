"""Benchmark: caption relevance scoring throughput and training time per epoch.

What is measured (medians over `--repeats`; the machine is shared, so the 1-minute load
average is recorded before and after):
- scoring: `curation.relevance.batching.compute_caption_outputs` (what `run_score_relevance`
  runs) with the offline all-MiniLM-L6-v2 encoder and a 1000-class head, on captions shaped
  like ImageNet-Captions (title + description + tags, lengths from
  `benchmarks/make_captions_file.py`), max 128 tokens. captions/s, real (non-padding)
  tokens/s and padded tokens/s, per batch size. On CUDA also a roberta-base-sized encoder
  (RobertaConfig defaults, random weights: speed does not depend on the weights), with bf16
  autocast, and the fraction of the GPU's dense bf16 peak (model FLOPs on real tokens).
- training: `run_train_relevance` on the embedded default texts (ImageNet-X + Wiktionary),
  the first `--train-classes` classes, 2 epochs of 75 % of the pairs: seconds per epoch,
  pairs/s, test accuracy per epoch (time-to-accuracy), for a tiny RoBERTa (64-d, 2 layers)
  and for MiniLM; on CUDA also for the roberta-base-sized encoder with its fraction of peak
  (training FLOPs = 3 x forward).

Usage:
    .venv/bin/python benchmarks/bench_relevance.py [--n-captions 512] [--repeats 3]
        [--train-classes 20] [--skip-minilm-train]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks import run_record  # noqa: E402
from benchmarks.make_captions_file import _read_class_counts, make_records  # noqa: E402
from curation.relevance.batching import compute_caption_outputs  # noqa: E402
from curation.relevance.dataset import compute_caption_text  # noqa: E402
from curation.relevance.model import compute_amp_dtype, create_relevance_model  # noqa: E402
from encoders.loading import load_encoder  # noqa: E402
from encoders.registry import OFFLINE_ENCODER  # noqa: E402

CLASS_COUNTS = REPO_ROOT.parent / "shared" / "data" / "imagenet_captions" / "class_counts.csv"
# Dense bf16 tensor-core peaks (FLOP/s) from the vendors' data sheets.
GPU_PEAKS = {
    "H100 PCIe": 756e12,
    "H100": 989e12,
    "H200": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10": 125e12,
}


def _gpu_peak(name: str) -> float | None:
    for key, peak in GPU_PEAKS.items():  # longest keys first in the dict order above
        if key in name:
            return peak
    return None


def _forward_flops_per_token(encoder, avg_tokens: float) -> float:
    """2 x non-embedding parameters + attention scores/values (4 x layers x T x d)."""
    config = encoder.config
    params = sum(p.numel() for n, p in encoder.named_parameters() if "embeddings" not in n)
    return 2.0 * params + 4.0 * config.num_hidden_layers * avg_tokens * config.hidden_size


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _caption_texts(n: int, seed: int = 0) -> list[str]:
    rows = _read_class_counts(CLASS_COUNTS)
    columns = make_records(rows, seed=seed, scale=max(n / 448_896 * 1.2, 0.003))
    texts = [
        compute_caption_text(t, d, g)
        for t, d, g in zip(columns["title"], columns["description"], columns["tags"], strict=True)
    ]
    rng = np.random.default_rng(seed)
    return [texts[i] for i in rng.choice(len(texts), size=n, replace=False)]


def _roberta_base_sized(tmp: Path, texts: list[str]) -> str:
    from curation.relevance.tiny import build_tiny_encoder

    return str(
        build_tiny_encoder(
            tmp / "roberta-base-sized",
            texts,
            vocab_size=8000,
            hidden_size=768,
            num_layers=12,
            num_heads=12,
            intermediate_size=3072,
            max_length=512,
        )
    )


def bench_scoring(
    encoder_name: str, texts: list[str], *, device: str, batch_sizes, repeats, max_length: int = 128
) -> list[dict]:
    encoder, tokenizer = load_encoder(encoder_name)
    model = create_relevance_model(encoder, n_classes=1000).to(device).eval()
    amp = compute_amp_dtype(device, "auto")
    labels = np.arange(len(texts)) % 1000
    rows = []
    for batch_size in batch_sizes:
        times, out = [], None
        compute_caption_outputs(
            model,
            tokenizer,
            texts[: batch_size * 2],
            labels,
            batch_size=batch_size,
            max_length=max_length,
            device=device,
            amp_dtype=amp,
        )  # warm-up
        for _ in range(repeats):
            _sync(device)
            start = time.perf_counter()
            out = compute_caption_outputs(
                model,
                tokenizer,
                texts,
                labels,
                batch_size=batch_size,
                max_length=max_length,
                device=device,
                amp_dtype=amp,
            )
            _sync(device)
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        real_tokens = float(out["n_tokens"].sum())
        row = {
            "encoder": encoder_name if len(encoder_name) < 40 else "roberta-base-sized",
            "device": device,
            "precision": str(amp).replace("torch.", "") if amp else "fp32",
            "batch_size": batch_size,
            "n_captions": len(texts),
            "seconds": seconds,
            "captions_per_s": len(texts) / seconds,
            "tokens_per_s": real_tokens / seconds,
            "mean_tokens": real_tokens / len(texts),
        }
        if device == "cuda":
            peak = _gpu_peak(torch.cuda.get_device_name())
            flops = _forward_flops_per_token(encoder, row["mean_tokens"]) * real_tokens
            row["fraction_of_peak"] = flops / seconds / peak if peak else None
        rows.append(row)
        print(json.dumps(row))
    return rows


def bench_training(
    db_path: Path,
    encoder_name: str,
    label: str,
    *,
    classes: int,
    epochs: int,
    device: str,
    batch_size: int,
    tmp: Path,
) -> dict:
    from curation.relevance.specs import DatasetSpec, TrainSpec
    from curation.relevance.train import run_train_relevance
    from db import relevance as relevance_db
    from db.connect import connect

    spec = TrainSpec(
        checkpoint_dir=str(tmp / f"train-{label}"),
        mode="finetune",  # this benchmark measures the fine-tune trainer (bench_noise: frozen)
        encoder=encoder_name,
        dataset=DatasetSpec(max_classes=classes),
        epochs=epochs,
        batch_size=batch_size,
        max_length=128,
        patience=0,
        device=device,
        keep_checkpoints=1,
    )
    con = connect(db_path)
    try:
        result = run_train_relevance(con, spec)
        metrics = relevance_db.list_epoch_metrics(con, result["run_id"])
    finally:
        con.close()
    seconds = metrics["seconds"].to_list()
    row = {
        "encoder": label,
        "device": device,
        "classes": classes,
        "epochs": epochs,
        "train_pairs_per_epoch": int(metrics["n_train_pairs"][0]),
        "seconds_per_epoch_median": statistics.median(seconds),
        "pairs_per_s": metrics["n_train_pairs"][0] / statistics.median(seconds),
        "time_to_accuracy": [
            {"epoch": int(e), "cumulative_s": float(c), "test_accuracy": a}
            for e, c, a in zip(
                metrics["epoch"], np.cumsum(seconds), metrics["test_accuracy"], strict=True
            )
        ],
    }
    print(json.dumps(row))
    return row


def _markdown(results: dict) -> str:
    lines = [
        f"# Relevance benchmark ({results['machine']['device']})",
        "",
        f"Command: `{results['command']}`  ",
        f"Load average before/after: {results['load_before']} / {results['load_after']}",
        "",
        "## Scoring",
        "",
        "| encoder | device | precision | batch | captions/s | tokens/s | mean tokens "
        "| fraction of peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["scoring"]:
        frac = r.get("fraction_of_peak")
        lines.append(
            f"| {r['encoder']} | {r['device']} | {r['precision']} | {r['batch_size']} "
            f"| {r['captions_per_s']:.1f} | {r['tokens_per_s']:.0f} "
            f"| {r['mean_tokens']:.1f} | {f'{frac:.1%}' if frac else 'n/a'} |"
        )
    lines += [
        "",
        "## Training (2 epochs of 75 % of the pairs)",
        "",
        "| encoder | device | classes | pairs/epoch | s/epoch | pairs/s | test acc. by epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results["training"]:
        accs = ", ".join(
            f"{t['test_accuracy']:.3f}@{t['cumulative_s']:.0f}s" for t in r["time_to_accuracy"]
        )
        lines.append(
            f"| {r['encoder']} | {r['device']} | {r['classes']} "
            f"| {r['train_pairs_per_epoch']} | {r['seconds_per_epoch_median']:.1f} "
            f"| {r['pairs_per_s']:.1f} | {accs} |"
        )
    lines += ["", results["note"], ""]
    return "\n".join(lines)


def _run_benchmarks(args, device: str, tmp: Path) -> tuple[list[dict], list[dict]]:
    from benchmarks.dev_db import build_dev_database
    from curation.relevance.tiny import build_tiny_encoder

    cuda = device == "cuda"
    texts = _caption_texts(args.n_captions)
    scoring = bench_scoring(
        OFFLINE_ENCODER,
        texts,
        device=device,
        repeats=args.repeats,
        batch_sizes=(128, 512) if cuda else (32, 128),
    )
    db_path = build_dev_database(REPO_ROOT / ".cache" / "bench_relevance.duckdb")
    train = {"classes": args.train_classes, "epochs": 2, "device": device, "tmp": tmp}
    tiny = str(build_tiny_encoder(tmp / "tiny", texts, vocab_size=4000, hidden_size=64))
    training = [bench_training(db_path, tiny, "tiny-roberta-64d", batch_size=32, **train)]
    if not args.skip_minilm_train:
        training.append(
            bench_training(db_path, OFFLINE_ENCODER, "all-MiniLM-L6-v2", batch_size=32, **train)
        )
    if cuda:
        big = _roberta_base_sized(tmp, texts)
        scoring += bench_scoring(
            big, texts * 4, device=device, repeats=args.repeats, batch_sizes=(256,)
        )
        training.append(
            bench_training(
                db_path, big, "roberta-base-sized", batch_size=64, **{**train, "classes": 100}
            )
        )
    return scoring, training


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-captions", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-classes", type=int, default=20)
    parser.add_argument("--skip-minilm-train", action="store_true")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    load_before = run_record.read_load_average()
    tmp = Path(tempfile.mkdtemp(prefix="bench-relevance-"))
    scoring, training = _run_benchmarks(args, "cuda" if cuda else "cpu", tmp)
    note = (
        "GPU figures: fraction of peak = model FLOPs on real tokens / time / dense bf16 peak."
        if cuda
        else "No GPU on this machine: CPU figures only (fp32). The script "
        "measures GPU figures, incl. the fraction of peak, when CUDA is available."
    )
    results = {
        "command": run_record.describe_command("bench_relevance.py", argv),
        "machine": run_record.describe_torch_machine(
            torch.cuda.get_device_name() if cuda else None
        ),
        "load_before": load_before,
        "load_after": run_record.read_load_average(),
        "scoring": scoring,
        "training": training,
        "note": note,
    }
    run_record.write_results("relevance", results, _markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
