"""Loading an encoder offline (a local directory, an alias, or the local Hugging Face cache),
and its identity, the cache key of everything it computes.

`load_encoder` never downloads and never unpickles: weights stored as a PyTorch pickle that
holds more than plain tensors are refused with one line. transformers is imported when used.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

from contract.files import hash_tensors
from encoders.registry import list_encoder_aliases, resolve_encoder_source

_KEY_ATTR = "_workbench_encoder_key"


class EncoderNotAvailableError(ValueError):
    """An encoder name that is neither a local directory nor in the local HF cache."""


def load_encoder(encoder: str):
    """Load an encoder and its tokenizer from a local directory or the local HF cache only.

    Returns:
        (transformers model, tokenizer).

    Raises:
        EncoderNotAvailableError: the name is not available offline, or its weights are a
            pickle that was refused.
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


def compute_encoder_key(encoder_name: str, model) -> str:
    """`<slug of the name>-<16 hex of the weights' hash>`; computed once per model object.

    The key names the encoder's folder in the text-vector cache and is recorded with every
    frozen relevance run (scoring checks the weights did not change), so its format stays.
    """
    cached = getattr(model, _KEY_ATTR, None)
    if cached is not None:
        return cached
    slug = re.sub(r"[^a-z0-9]+", "-", Path(str(encoder_name)).name.lower()).strip("-")[:40]
    key = f"{slug or 'encoder'}-{hash_tensors(model.state_dict().items())[:16]}"
    setattr(model, _KEY_ATTR, key)
    return key
