"""Frozen job specs for caption relevance, stored as JSON beside every result.

`DatasetSpec` says how the training set is built, `TrainSpec` how a model is trained (in
either mode: a head on frozen encoder features, `FrozenHeadSpec`, or the whole encoder
fine-tuned), `FeatureSpec` which texts get frozen-encoder features, `ScoringSpec` which
model version scores which captions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contract.devices import check_device_name
from contract.specs import JsonSpec, check_choice
from encoders.registry import OFFLINE_ENCODER
from scale.specs import EngineSpec, RunsOnEngine

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# 'auto' = frozen on a CPU (minutes for every class), finetune on CUDA (the paper's training).
MODES = ("auto", "frozen", "finetune")
PERSON_DECISIONS = ("keep", "drop", "none")  # CaptionFilter.decision: 'none' = undecided


def resolve_mode(mode: str, device: str) -> str:
    """'frozen' or 'finetune': the mode as given, or for 'auto' the one that suits `device`
    ('cuda' -> finetune, else frozen).

    Raises:
        ValueError: an unknown mode (the message lists the valid ones).
    """
    check_choice("mode", mode, MODES)
    if mode != "auto":
        return mode
    return "finetune" if str(device).startswith("cuda") else "frozen"


@dataclass(frozen=True)
class DatasetSpec(JsonSpec):
    """How captions and class descriptions become training pairs (the paper's rules).

    Attributes:
        seed: seed of the train/test split.
        test_fraction: share of each class's captions in the test split (paper: about 23 %).
        min_sentences: the paper uses 2 to 10 leading sentences; a description with fewer
            (e.g. a one-sentence WordNet gloss) is used whole and counted as short.
        max_sentences: at most this many leading sentences per class.
        min_words: captions need at least this many words (paper: more than one).
        wnids: restrict to these classes (empty = every class with captions).
        max_classes: keep only the first N eligible classes by wnid (0 = all); for quick runs.
        source: only captions of this caption source (None = every source).
        use_curation: captions a person dropped leave the training set and relabelled ones
            train under their curated class (decisions feed back).
    """

    seed: int = 0
    test_fraction: float = 0.23
    min_sentences: int = 2
    max_sentences: int = 10
    min_words: int = 2
    wnids: tuple[str, ...] = ()
    max_classes: int = 0
    source: str | None = None
    use_curation: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if not 1 <= self.min_sentences <= self.max_sentences:
            raise ValueError("need 1 <= min_sentences <= max_sentences")
        if self.min_words < 1 or self.max_classes < 0:
            raise ValueError("min_words must be >= 1 and max_classes >= 0")
        object.__setattr__(self, "wnids", tuple(self.wnids))


@dataclass(frozen=True)
class FrozenHeadSpec(JsonSpec):
    """The head trained on frozen encoder features (the paper's head: dropout, a linear layer
    over the classes, sigmoid, BCE on one-hot targets), cross-fitted over `folds` folds.

    Attributes:
        epochs: rounds of training, each one pass over the features (several passes when a
            pass has fewer than `min_steps / epochs` batches, so a small dataset still gets
            `min_steps` steps); out-of-sample metrics are recorded after each.
        min_steps: the fewest optimizer steps of a training.
        learning_rate, weight_decay: AdamW.
        batch_size: feature rows per step.
        folds: K of the K-fold cross-fitting: each caption is scored by the head trained on
            the other K-1 folds (out of sample). The model's head for new captions is the
            mean of the K fold heads.
        feature_batch_size: texts per encoder forward pass while features are computed.
        cache_dir: feature cache folder ('' = text-features/ in the storage root's cache).

    The defaults (5 epochs, lr 1e-3, no weight decay) won a grid on half A of the default
    captions (detection AUROC at 10 % flipped labels); benchmarks/bench_noise.py reports
    them on half B.
    """

    epochs: int = 5
    min_steps: int = 150
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 1024
    folds: int = 5
    feature_batch_size: int = 64
    cache_dir: str = ""

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.feature_batch_size < 1:
            raise ValueError("need epochs >= 1, batch_size >= 1 and feature_batch_size >= 1")
        if self.min_steps < 0:
            raise ValueError(f"min_steps must be >= 0, got {self.min_steps}")
        if not 2 <= self.folds <= 20:
            raise ValueError(f"folds must be between 2 and 20, got {self.folds}")
        if self.learning_rate <= 0 or self.weight_decay < 0:
            raise ValueError("need learning_rate > 0 and weight_decay >= 0")

    def resolve_passes(self, n_rows: int) -> int:
        """Passes over `n_rows` rows per epoch: 1, or more to reach `min_steps` in all."""
        steps_per_pass = max(1, -(-int(n_rows) // self.batch_size))
        return max(1, -(-self.min_steps // (self.epochs * steps_per_pass)))


@dataclass(frozen=True)
class TrainSpec(JsonSpec):
    """A training run. `checkpoint_dir` identifies the run: training a fine-tune run again
    into the same directory resumes it.

    Attributes:
        mode: 'frozen' (a head on cached encoder features, cross-fitted: minutes on a CPU for
            every class), 'finetune' (the whole encoder, the paper's way; for a GPU), or
            'auto' (frozen on a CPU, finetune on CUDA).
        head: the frozen mode's head settings (`FrozenHeadSpec`); the fields below it are
            the fine-tune mode's (`max_length` and `dropout` apply to both).
        encoder: a Hugging Face name, a local directory, or `offline:all-MiniLM-L6-v2`.
        max_length: tokens per input (pairs are truncated longest-first).
        epoch_fraction: each epoch trains on a fresh random share of the training pairs.
        patience: stop after this many epochs without a better test accuracy (0 = never).
        keep_checkpoints: keep the weights of the last N epochs plus the best (0 = keep all).
        train_encoder: False trains only the linear head (fast on a CPU).
        precision: 'auto' = bf16 autocast on a CUDA device that supports it, else fp16 on CUDA,
            fp32 on the CPU.
    """

    checkpoint_dir: str
    name: str = "relevance"
    mode: str = "auto"
    head: FrozenHeadSpec = field(default_factory=FrozenHeadSpec)
    encoder: str = OFFLINE_ENCODER
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    max_length: int = 128
    epoch_fraction: float = 0.75
    patience: int = 3
    keep_checkpoints: int = 2
    train_encoder: bool = True
    dropout: float = 0.25
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    eval_batch_size: int = 128

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, MODES)
        check_choice("precision", self.precision, PRECISIONS)
        check_device_name(self.device)
        if self.epochs < 1 or self.batch_size < 1 or self.max_length < 8:
            raise ValueError("need epochs >= 1, batch_size >= 1, max_length >= 8")
        if not 0.0 < self.epoch_fraction <= 1.0:
            raise ValueError(f"epoch_fraction must be in (0, 1], got {self.epoch_fraction}")
        if not str(self.checkpoint_dir):
            raise ValueError("checkpoint_dir is required")


@dataclass(frozen=True)
class FeatureSpec(RunsOnEngine, JsonSpec):
    """Compute (or find cached) frozen-encoder features of a dataset's captions and class
    sentences: the first step of frozen training, runnable on its own.

    Attributes:
        encoder: as in `TrainSpec`. max_length: tokens per text (part of the cache key).
        batch_size: texts per forward pass. cache_dir: '' = text-features/ in the storage
            root's cache.
        engine: this process, or Ray actors writing the same cache (`EngineSpec`).

    Features are always computed in fp32, so the CPU and a GPU fill the same cache.
    """

    encoder: str = OFFLINE_ENCODER
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    max_length: int = 128
    batch_size: int = 64
    device: str = "auto"
    cache_dir: str = ""
    engine: EngineSpec = field(default_factory=EngineSpec)

    def __post_init__(self) -> None:
        check_device_name(self.device)
        if self.batch_size < 1 or self.max_length < 8:
            raise ValueError("need batch_size >= 1 and max_length >= 8")


@dataclass(frozen=True)
class ScoringSpec(RunsOnEngine, JsonSpec):
    """Score captions with one model version (checkpoint).

    Attributes:
        model_version: the checkpoint to use (see `workbench relevance list`).
        wnids: only captions of these classes (empty = every class the model knows).
        batch_size: captions per forward pass; 0 = automatic (`resolve_scoring_batch_size`).
        max_length: tokens per caption (longer captions are truncated and counted); in
            frozen mode the run's own max_length is used (it keys the feature cache).
        min_words: captions with fewer words are skipped and counted (paper: more than one).
        source: only captions of this caption source (None = every source).
        engine: where a frozen model's caption features are computed (as in `FeatureSpec`);
            fine-tune scoring always runs here.
    """

    model_version: int
    wnids: tuple[str, ...] = ()
    batch_size: int = 0
    max_length: int = 128
    min_words: int = 2
    device: str = "auto"
    precision: str = "auto"
    source: str | None = None
    engine: EngineSpec = field(default_factory=EngineSpec)

    def __post_init__(self) -> None:
        check_device_name(self.device)
        check_choice("precision", self.precision, PRECISIONS)
        if self.batch_size < 0 or self.max_length < 8:
            raise ValueError("need batch_size >= 0 (0 = automatic) and max_length >= 8")
        object.__setattr__(self, "wnids", tuple(self.wnids))

    def resolve_batch_size(self, device: str) -> int:
        """The batch size to use on `device`: the spec's, or when 0, 128 on CUDA and 32 on
        the CPU (where 32 scored 1.8x faster than 128: benchmarks/results/relevance.md)."""
        if self.batch_size:
            return self.batch_size
        return 128 if device.startswith("cuda") else 32


@dataclass(frozen=True)
class CaptionFilter(JsonSpec):
    """Which captions a bulk keep/drop (or a review list) applies to; stored with each bulk
    event, so the history says what was matched.

    Attributes:
        model_version: only captions this version scored (needed for the score filters).
        wnid: one class. source: one caption source.
        search: case-insensitive literal substring of the title, description or tags.
        p_min, p_max: bounds on P(own class) of `model_version`'s scores (inclusive).
        suggested_other: only captions whose suggested class is another class.
        decision: a person's decision: 'keep', 'drop' or 'none' (no person decided yet).
        caption_ids: only these captions (a search's results, a duplicate group, a map
            selection); empty = no restriction.
    """

    model_version: int | None = None
    wnid: str | None = None
    source: str | None = None
    search: str = ""
    p_min: float | None = None
    p_max: float | None = None
    suggested_other: bool = False
    decision: str | None = None
    caption_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        check_choice("decision", self.decision, (*PERSON_DECISIONS, None))
        object.__setattr__(self, "caption_ids", tuple(int(i) for i in self.caption_ids))
        for name in ("p_min", "p_max"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.p_min is not None and self.p_max is not None and self.p_min > self.p_max:
            raise ValueError(f"p_min {self.p_min} is above p_max {self.p_max}")
        uses_scores = self.p_min is not None or self.p_max is not None or self.suggested_other
        if uses_scores and self.model_version is None:
            raise ValueError("score filters (p_min, p_max, suggested_other) need a model_version")

    def describe(self) -> str:
        """One line for the user, e.g. "class n01440764, 'dsc', P(own) <= 0.2"."""
        parts = [f"model version {self.model_version}"] if self.model_version else []
        parts += [f"class {self.wnid}"] if self.wnid else []
        parts += [f"source {self.source}"] if self.source else []
        parts += [f"text contains {self.search!r}"] if self.search else []
        parts += [f"P(own) >= {self.p_min}"] if self.p_min is not None else []
        parts += [f"P(own) <= {self.p_max}"] if self.p_max is not None else []
        parts += ["suggested class is another"] if self.suggested_other else []
        parts += [f"decision {self.decision}"] if self.decision else []
        parts += [f"{len(self.caption_ids):,} chosen captions"] if self.caption_ids else []
        return ", ".join(parts) or "every caption"
