"""The relevance model: any Hugging Face encoder (`encoders.loading.load_encoder`) -> mean
pooling over non-padding tokens -> dropout -> linear layer over the classes -> sigmoid (BCE
on one-hot targets).

torch/transformers are imported lazily (the layer rule for curation/), so the nn.Module class
is built on first use by `_model_class()`.
"""

from __future__ import annotations

import functools
from pathlib import Path

# The encoder registry, loading and pooling live in `encoders/` (shared with extension/);
# re-exported here for callers of the old names.
from encoders.loading import EncoderNotAvailableError as EncoderNotAvailableError
from encoders.loading import load_encoder as load_encoder
from encoders.pooling import compute_mean_pooling
from encoders.registry import list_encoder_aliases as list_encoder_aliases


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
