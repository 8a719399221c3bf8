"""Frozen job specs for caption relevance, stored as JSON beside every result.

`DatasetSpec` says how the training set is built, `TrainSpec` how a model is trained,
`ScoringSpec` which checkpoint scores which captions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contract.devices import check_device_name
from contract.specs import JsonSpec

OFFLINE_ENCODER = "offline:all-MiniLM-L6-v2"
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


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
    """

    seed: int = 0
    test_fraction: float = 0.23
    min_sentences: int = 2
    max_sentences: int = 10
    min_words: int = 2
    wnids: tuple[str, ...] = ()
    max_classes: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if not 1 <= self.min_sentences <= self.max_sentences:
            raise ValueError("need 1 <= min_sentences <= max_sentences")
        if self.min_words < 1 or self.max_classes < 0:
            raise ValueError("min_words must be >= 1 and max_classes >= 0")
        object.__setattr__(self, "wnids", tuple(self.wnids))


@dataclass(frozen=True)
class TrainSpec(JsonSpec):
    """A training run. `checkpoint_dir` identifies the run: training again into the same
    directory resumes it.

    Attributes:
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
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        check_device_name(self.device)
        if self.epochs < 1 or self.batch_size < 1 or self.max_length < 8:
            raise ValueError("need epochs >= 1, batch_size >= 1, max_length >= 8")
        if not 0.0 < self.epoch_fraction <= 1.0:
            raise ValueError(f"epoch_fraction must be in (0, 1], got {self.epoch_fraction}")
        if not str(self.checkpoint_dir):
            raise ValueError("checkpoint_dir is required")


@dataclass(frozen=True)
class ScoringSpec(JsonSpec):
    """Score captions with one model version (checkpoint).

    Attributes:
        model_version: the checkpoint to use (see `workbench relevance list`).
        wnids: only captions of these classes (empty = every class the model knows).
        batch_size: captions per forward pass; 0 = automatic (`resolve_scoring_batch_size`).
        max_length: tokens per caption (longer captions are truncated and counted).
        min_words: captions with fewer words are skipped and counted (paper: more than one).
    """

    model_version: int
    wnids: tuple[str, ...] = ()
    batch_size: int = 0
    max_length: int = 128
    min_words: int = 2
    device: str = "auto"
    precision: str = "auto"

    def __post_init__(self) -> None:
        check_device_name(self.device)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.batch_size < 0 or self.max_length < 8:
            raise ValueError("need batch_size >= 0 (0 = automatic) and max_length >= 8")
        object.__setattr__(self, "wnids", tuple(self.wnids))

    def resolve_batch_size(self, device: str) -> int:
        """The batch size to use on `device`: the spec's, or when 0, 128 on CUDA and 32 on
        the CPU (where 32 scored 1.8x faster than 128: benchmarks/results/relevance.md)."""
        if self.batch_size:
            return self.batch_size
        return 128 if device.startswith("cuda") else 32
