"""Frozen job specs of the extension layer, stored as JSON beside every result.

Each spec round-trips through `to_json()` / `from_json()`, so a stored number can be traced
to exactly what produced it (DESIGN.md example 4).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

# Where converted weights, embeddings and heads are cached (relative to the working folder).
DEFAULT_CACHE_DIR = Path(".cache")


class JsonSpec:
    """Base of the frozen specs: JSON round trip, unknown fields refused by name."""

    def to_dict(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict):
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown fields {unknown}; valid: {sorted(known)}")
        return cls(**_thaw(cls, data))

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(json.loads(text))


def _thaw(cls, data: dict) -> dict:
    out = dict(data)
    if "params" in out and isinstance(out["params"], dict):
        out["params"] = tuple(sorted(out["params"].items()))
    if "params" in out and isinstance(out["params"], list):
        out["params"] = tuple(tuple(p) for p in out["params"])
    if "model" in out and isinstance(out["model"], dict):
        out["model"] = ModelSpec.from_dict(out["model"])
    if "synthesis" in out and isinstance(out["synthesis"], dict):
        out["synthesis"] = SynthesisSpec.from_dict(out["synthesis"])
    for key in ("methods", "init_methods"):
        if isinstance(out.get(key), list):
            out[key] = tuple(
                SynthesisSpec.from_dict(m) if isinstance(m, dict) else m for m in out[key]
            )
    for key in ("classes", "texts", "negative_sets", "shots"):
        if key in out and isinstance(out[key], list):
            out[key] = tuple(out[key])
    return out


@dataclass(frozen=True)
class ModelSpec(JsonSpec):
    """The base classifier.

    Attributes:
        name: 'default' (offline EfficientNet-Lite0) or any timm model name.
        pretrained: load timm hub weights (needs internet) when no weights_path is given.
        weights_path: a local safetensors state dict for `name`.
        num_classes: head size of the weights file when it is not 1000.
    """

    name: str = "default"
    pretrained: bool = True
    weights_path: str | None = None
    num_classes: int | None = None


@dataclass(frozen=True)
class SynthesisSpec(JsonSpec):
    """One synthesis method with its parameters.

    Attributes:
        method: a registered method ('paper', 'topk', 'softmax', 'ridge', ...).
        distance: 'cosine' or 'euclidean' (methods that weight by distance).
        params: sorted (name, value) pairs; defaults of the method fill the rest.
        features: text vectors used: 'paper' (frequencies as defined by the paper) or
            'sqrt-idf' (sqrt of the frequency times log(C / classes containing the token)).
    """

    method: str = "paper"
    distance: str = "cosine"
    params: tuple[tuple[str, object], ...] = ()
    features: str = "paper"

    @property
    def label(self) -> str:
        """Short display name, e.g. 'paper-cosine' or 'topk-cosine(k=5)'."""
        extra = ",".join(f"{k}={v}" for k, v in self.params)
        feats = "" if self.features == "paper" else f"[{self.features}]"
        return f"{self.method}-{self.distance}{feats}" + (f"({extra})" if extra else "")

    def param_dict(self) -> dict:
        return dict(self.params)


@dataclass(frozen=True)
class LooSpec(JsonSpec):
    """A leave-one-out benchmark run over existing classes.

    Attributes:
        methods: methods to compare.
        classes: wnids to leave out (empty: every base class with text).
        images_dir: image folders named by wnid (optional; enables image metrics).
        model: base classifier.
        device: 'auto' | 'cpu' | 'cuda'.
        max_images_per_class: cap per class folder when embedding (0 = all).
    """

    methods: tuple[SynthesisSpec, ...] = (SynthesisSpec(),)
    classes: tuple[str, ...] = ()
    images_dir: str | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    device: str = "auto"
    max_images_per_class: int = 0


@dataclass(frozen=True)
class AddClassSpec(JsonSpec):
    """Add a class from text and synthesize its head row(s).

    Attributes:
        class_id: 'custom-<slug>' or an ImageNet-21k wnid.
        name: display name.
        description: the class description (one example).
        texts: extra texts, one example each (captions, notes).
        methods: synthesis methods to run; one head row each.
        model: base classifier whose head rows are combined.
        device: 'auto' | 'cpu' | 'cuda'.
        actor: who added it.
    """

    class_id: str
    name: str
    description: str
    texts: tuple[str, ...] = ()
    methods: tuple[SynthesisSpec, ...] = (SynthesisSpec(),)
    model: ModelSpec = field(default_factory=ModelSpec)
    device: str = "auto"
    actor: str = "cli"
