"""Frozen job specs of the extension layer, stored as JSON beside every result.

Synthesis: `ModelSpec` (the base classifier), `SynthesisSpec` (one method), `LooSpec`
(leave-one-out), `AddClassSpec` (a class from text), `TextEmbeddingSpec` (sentence vectors
of the class texts). Evaluation: `EmbedSpec` (embed an image
set), `EvalSpec` (the paper's protocol), `FewShotSpec` (the few-shot baseline). Every spec
round-trips through `to_json()` / `from_json()` (`contract.specs.JsonSpec`), so a stored
number can be traced to exactly what produced it (DESIGN.md example 4).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contract.specs import JsonSpec
from encoders.registry import OFFLINE_ENCODER
from scale.specs import EngineSpec, RunsOnEngine

# The sentence encoder of the embedding distance (any Hugging Face encoder by name or path).
DEFAULT_TEXT_ENCODER = OFFLINE_ENCODER

# The paper's validation classes: koala, trailer truck, bee, cheeseburger.
PAPER_CLASSES = ("n01882714", "n04467665", "n02206856", "n07697313")
# Closest Tiny-ImageNet-200 stand-ins for the two paper classes it lacks:
# trailer truck -> moving van (both trucks in WordNet), cheeseburger -> pizza (a dish).
TINY_SUBSTITUTES = {"n04467665": "n03796401", "n07697313": "n07873807"}
TRAINED = "trained"
DEFAULT_SHOTS = (1, 5, 10, 25)


@dataclass(frozen=True)
class TextStatsSpec(JsonSpec):
    """Build the class text statistics.

    Attributes:
        force: rebuild even when the stored build matches the current texts.
    """

    force: bool = False


@dataclass(frozen=True)
class TextEmbeddingSpec(JsonSpec):
    """Embed every class text with a sentence encoder (cached per text; resumable).

    Attributes:
        encoder: an encoder alias, local folder or Hugging Face name (offline only).
        device: 'auto' | 'cpu' | 'cuda'.
        batch_size: texts per forward pass.
    """

    encoder: str = DEFAULT_TEXT_ENCODER
    device: str = "auto"
    batch_size: int = 64


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
        features: text vectors used: 'paper' (frequencies as defined by the paper),
            'sqrt-idf' (sqrt of the frequency times log(C / classes containing the token)),
            'embedding' (sentence vectors of the class texts), or a blend 'A+B' of two
            (cosine kernels mixed by the `blend_weight` parameter).
        calibration: a registered calibration of the row's bias (and scale) without labels
            of the new class ('none': as synthesized); see `extension.synthesis.calibration`.
        calibration_params: sorted (name, value) pairs of the calibration.
    """

    method: str = "paper"
    distance: str = "cosine"
    params: tuple[tuple[str, object], ...] = ()
    features: str = "paper"
    calibration: str = "none"
    calibration_params: tuple[tuple[str, object], ...] = ()

    @property
    def label(self) -> str:
        """Short display name, e.g. 'paper-cosine' or 'topk-cosine(k=5)'."""
        extra = ",".join(f"{k}={v}" for k, v in self.params)
        feats = "" if self.features == "paper" else f"[{self.features}]"
        label = f"{self.method}-{self.distance}{feats}" + (f"({extra})" if extra else "")
        if self.calibration != "none":
            cal = ",".join(f"{k}={v}" for k, v in self.calibration_params)
            label += f"+{self.calibration}" + (f"({cal})" if cal else "")
        return label

    def param_dict(self) -> dict:
        return dict(self.params)

    def calibration_dict(self) -> dict:
        return dict(self.calibration_params)


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
        calibration_images_dir: unlabeled images (folders named by wnid) that calibrated
            methods set the rows' biases on; never the scored `images_dir`. A left-out
            class's own images in it are excluded from its calibration.
        text_encoder: sentence encoder of the embedding features (methods that use them).
    """

    methods: tuple[SynthesisSpec, ...] = (SynthesisSpec(),)
    classes: tuple[str, ...] = ()
    images_dir: str | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    device: str = "auto"
    max_images_per_class: int = 0
    calibration_images_dir: str | None = None
    text_encoder: str = DEFAULT_TEXT_ENCODER


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
        calibration_set_id: the registered image set (embedded with `model`) that calibrated
            methods set the row's bias on, unlabeled; None: no image set (calibrated
            methods that need images are refused).
        text_encoder: sentence encoder of the embedding features (methods that use them).
    """

    class_id: str
    name: str
    description: str
    texts: tuple[str, ...] = ()
    methods: tuple[SynthesisSpec, ...] = (SynthesisSpec(),)
    model: ModelSpec = field(default_factory=ModelSpec)
    device: str = "auto"
    actor: str = "cli"
    calibration_set_id: int | None = None
    text_encoder: str = DEFAULT_TEXT_ENCODER


@dataclass(frozen=True)
class ExportSpec(JsonSpec):
    """Export the base model plus kept added classes as a timm checkpoint folder.

    Attributes:
        out_dir: a new folder to write ('' = a new folder under the storage root's exports/;
            an existing folder with content is refused, never replaced).
        model: the base classifier the rows were synthesized for.
        wnids: added classes to include (empty: every kept one), in head order.
    """

    out_dir: str = ""
    model: ModelSpec = field(default_factory=ModelSpec)
    wnids: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeepClassSpec(JsonSpec):
    """Keep a draft class: add it to the catalog and choose the row export uses.

    Attributes:
        wnid: the added class.
        primary_method: the method label of the row to export (empty: its first row).
        actor: who keeps it.
    """

    wnid: str
    primary_method: str = ""
    actor: str = "cli"


@dataclass(frozen=True)
class PhotoCheckSpec(JsonSpec):
    """Try an added class's rows on photos: top classes of each photo under the extended head.

    Attributes:
        wnid: the added class (draft or kept).
        paths: the photo files (embedded once each, by content, in the feature store).
        k: classes listed per photo.
        model: the base classifier.
        device: 'auto' | 'cpu' | 'cuda'.
    """

    wnid: str
    paths: tuple[str, ...]
    k: int = 5
    model: ModelSpec = field(default_factory=ModelSpec)
    device: str = "auto"


DEFAULT_METHODS = (SynthesisSpec("paper", "cosine"), SynthesisSpec("paper", "euclidean"))


@dataclass(frozen=True)
class EmbedSpec(RunsOnEngine, JsonSpec):
    """Embed a registered image set with the base model (resumable, cached per file hash).

    Attributes:
        image_set_id: the set to embed.
        model: base classifier.
        device: 'auto' | 'cpu' | 'cuda'.
        batch_size: images per forward pass.
        chunk_size: images per cache shard; an interrupted job loses at most one chunk. On
            Ray also the images per actor call.
        engine: this process, or a pool of model actors on a Ray cluster (`EngineSpec`; on a
            cluster the cache folder must be a path every node can read).
    """

    image_set_id: int
    model: ModelSpec = field(default_factory=ModelSpec)
    device: str = "auto"
    batch_size: int = 64
    chunk_size: int = 256
    engine: EngineSpec = field(default_factory=EngineSpec)


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
    min_positives: int = 5


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
