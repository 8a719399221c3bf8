"""A tiny randomly initialised RoBERTa encoder with a byte-level BPE tokenizer trained in about
a second on local text. Used by the tests and benchmarks, and as a "small model on the CPU"
for trying the whole workflow quickly (its quality comes only from the training run).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def build_tiny_encoder(
    out_dir: str | Path,
    texts: Iterable[str],
    *,
    vocab_size: int = 2000,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    intermediate_size: int | None = None,
    max_length: int = 128,
    seed: int = 0,
) -> Path:
    """Train a BPE tokenizer on `texts` and save it with a random tiny RobertaModel.

    Args:
        out_dir: directory to write (config.json, model.safetensors, tokenizer files).
        texts: local text to learn the vocabulary from (captions, descriptions).
        intermediate_size: feed-forward width (default 2 x hidden_size).
        max_length: longest input in tokens.

    Returns:
        out_dir, loadable with `load_encoder(str(out_dir))`.
    """
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    if hidden_size % num_heads:
        raise ValueError(f"hidden_size {hidden_size} must be a multiple of num_heads {num_heads}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        list(texts),
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=SPECIAL_TOKENS,
        show_progress=False,
    )
    bpe.save_model(str(out_dir))
    # transformers 5: RobertaTokenizerFast(vocab_file=...) ignores the files; load the dir.
    tokenizer = RobertaTokenizerFast.from_pretrained(str(out_dir), model_max_length=max_length)
    config = RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size or hidden_size * 2,
        max_position_embeddings=max_length + 2 + tokenizer.pad_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    RobertaModel(config, add_pooling_layer=False).save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return out_dir
