"""Frozen job specs of the evaluation dashboards, stored as JSON beside every result.

`EmbedSpec` embeds an image set, `EvalSpec` runs the paper's protocol, `FewShotSpec` the
few-shot baseline. Each round-trips through `to_json()` / `from_json()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from extension.specs import JsonSpec, ModelSpec, SynthesisSpec

# The paper's validation classes: koala, trailer truck, bee, cheeseburger.
PAPER_CLASSES = ("n01882714", "n04467665", "n02206856", "n07697313")
# Closest Tiny-ImageNet-200 stand-ins for the two paper classes it lacks:
# trailer truck -> moving van (both trucks in WordNet), cheeseburger -> pizza (a dish).
TINY_SUBSTITUTES = {"n04467665": "n03796401", "n07697313": "n07873807"}
DEFAULT_METHODS = (SynthesisSpec("paper", "cosine"), SynthesisSpec("paper", "euclidean"))
TRAINED = "trained"
DEFAULT_SHOTS = (1, 5, 10, 25)


@dataclass(frozen=True)
class EmbedSpec(JsonSpec):
    """Embed a registered image set with the base model (resumable, cached per file hash).

    Attributes:
        image_set_id: the set to embed.
        model: base classifier.
        device: 'auto' | 'cpu' | 'cuda'.
        batch_size: images per forward pass.
        chunk_size: images per cache shard; an interrupted job loses at most one chunk.
    """

    image_set_id: int
    model: ModelSpec = field(default_factory=ModelSpec)
    device: str = "auto"
    batch_size: int = 64
    chunk_size: int = 256


@dataclass(frozen=True)
class EvalSpec(JsonSpec):
    """The paper's protocol on one image set.

    Attributes:
        image_set_id: positives (and negatives) come from this registered set.
        classes: wnids or custom class ids to evaluate; base classes are synthesized leave-one-out.
        methods: synthesis methods compared with the trained row.
        n: positives and negatives per class (each capped by what the sets hold).
        balanced: draw no more negatives than positives, so the set stays balanced (p = 0.5)
            when a class has fewer than n images.
        seed: sampling seed (per class, so adding a class leaves the others' samples unchanged).
        negative_sets: further image sets whose images serve as negatives only.
        n_bootstrap: bootstrap replicates for the confidence intervals.
        confidence: interval mass.
        model: base classifier.
        device: 'auto' | 'cpu' | 'cuda'.
        name: a label for the run on the dashboard.
    """

    image_set_id: int
    classes: tuple[str, ...] = PAPER_CLASSES
    methods: tuple[SynthesisSpec, ...] = DEFAULT_METHODS
    n: int = 1000
    balanced: bool = True
    seed: int = 0
    negative_sets: tuple[int, ...] = ()
    n_bootstrap: int = 1000
    confidence: float = 0.95
    model: ModelSpec = field(default_factory=ModelSpec)
    device: str = "auto"
    name: str = ""


@dataclass(frozen=True)
class FewShotSpec(JsonSpec):
    """Few-shot baseline: a one-vs-rest linear row on frozen features, trained with Adam.

    Attributes:
        image_set_id: training shots and test items come from this set.
        classes: target classes (must have images in the set).
        shots: k values; k positives of the class and k images of every other class.
        init_methods: synthesized rows used as initialization, besides zeros.
        repeats: independent draws of the shots per k (metrics are averaged).
        steps: full-batch Adam steps.
        lr: Adam learning rate.
        weight_decay: L2 on the row (AdamW-style decoupled decay).
        n: test positives and negatives per class (capped; disjoint from the shots).
        seed: sampling seed.
        model: base classifier.
        device: 'auto' | 'cpu' | 'cuda'.
    """

    image_set_id: int
    classes: tuple[str, ...] = PAPER_CLASSES
    shots: tuple[int, ...] = DEFAULT_SHOTS
    init_methods: tuple[SynthesisSpec, ...] = (SynthesisSpec("paper", "cosine"),)
    repeats: int = 3
    steps: int = 200
    lr: float = 0.01
    weight_decay: float = 0.0
    n: int = 1000
    seed: int = 0
    model: ModelSpec = field(default_factory=ModelSpec)
    device: str = "auto"
