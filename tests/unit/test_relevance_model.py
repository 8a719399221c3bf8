"""Relevance model: shapes, mean pooling over real tokens only, checkpoints refused for
another class set or encoder, unavailable encoders."""

from __future__ import annotations

import pytest
import torch

import tests.relevance_helpers as helpers
from curation.relevance import checkpoint as ckpt
from curation.relevance.model import create_relevance_model
from encoders.loading import EncoderNotAvailableError, load_encoder
from encoders.pooling import compute_mean_pooling

tiny_encoder_dir = helpers.tiny_encoder_dir  # fixtures
torch_single_thread = helpers.torch_single_thread  # fixtures


def test_mean_pooling_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])  # (1, 3, 2)
    mask = torch.tensor([[1, 1, 0]])
    assert torch.allclose(compute_mean_pooling(hidden, mask), torch.tensor([[2.0, 3.0]]))
    empty = compute_mean_pooling(hidden, torch.zeros(1, 3, dtype=torch.long))
    assert torch.equal(empty, torch.zeros(1, 2))


def test_forward_shapes_and_padding_invariance(tiny_encoder_dir):
    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    model = create_relevance_model(encoder, n_classes=5).eval()
    assert model.num_features == 32
    assert model.get_classifier().weight.shape == (5, 32)
    alone = tokenizer(["green pond"], return_tensors="pt")
    padded = tokenizer(
        ["green pond", "a much longer caption about the orange goldfish bowl"],
        padding=True,
        return_tensors="pt",
    )
    assert padded["attention_mask"][0].sum() < padded["attention_mask"].shape[1]
    logits_alone = model(**alone)
    logits_padded = model(**padded)
    assert logits_padded.shape == (2, 5)
    assert torch.allclose(logits_alone[0], logits_padded[0], atol=1e-5)
    probs = model.predict_proba(**padded)
    assert ((probs > 0) & (probs < 1)).all()
    assert model.forward_head(model.forward_features(**padded), pre_logits=True).shape == (2, 32)


def test_create_model_validates():
    with pytest.raises(ValueError, match="n_classes"):
        create_relevance_model(None, n_classes=0)


def test_unavailable_encoder_is_a_clear_error(tmp_path):
    with pytest.raises(EncoderNotAvailableError, match="not available offline"):
        load_encoder(str(tmp_path / "no-such-model"))


def test_checkpoint_for_another_class_set_or_encoder_is_refused(tmp_path, tiny_encoder_dir):
    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    model = create_relevance_model(encoder, n_classes=2)
    meta = {"class_wnids": ["n01440764", "n01443537"], "encoder": "tiny", "dropout": 0.25}
    ckpt.save_run_files(tmp_path, meta=meta, encoder=encoder, tokenizer=tokenizer)
    path, sha = ckpt.save_epoch(tmp_path, 1, model=model, train_state={"epoch": 1})
    loaded, _, _ = ckpt.load_relevance_model(
        tmp_path, class_wnids=meta["class_wnids"], encoder="tiny", expected_sha256=sha
    )
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    with pytest.raises(ckpt.CheckpointMismatchError, match="another class set"):
        ckpt.load_relevance_model(tmp_path, class_wnids=["n01440764", "n01484850"])
    with pytest.raises(ckpt.CheckpointMismatchError, match="another order"):
        ckpt.load_relevance_model(tmp_path, class_wnids=["n01443537", "n01440764"])
    with pytest.raises(ckpt.CheckpointMismatchError, match="encoder 'tiny', not 'roberta-base'"):
        ckpt.load_relevance_model(tmp_path, encoder="roberta-base")
    with open(path, "ab") as handle:
        handle.write(b"x")
    with pytest.raises(ckpt.CheckpointMismatchError, match="sha256"):
        ckpt.load_relevance_model(tmp_path, expected_sha256=sha)


def test_train_state_loads_with_weights_only(tmp_path, tiny_encoder_dir):
    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    model = create_relevance_model(encoder, n_classes=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(**tokenizer(["a b"], return_tensors="pt")).sum().backward()
    optimizer.step()
    state = {"epoch": 3, "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state()}
    ckpt.save_run_files(
        tmp_path,
        meta={"class_wnids": ["a", "b"], "encoder": "t", "dropout": 0.25},
        encoder=encoder,
        tokenizer=tokenizer,
    )
    ckpt.save_epoch(tmp_path, 3, model=model, train_state=state)
    loaded = ckpt.load_train_state(tmp_path, 3)  # torch.load(weights_only=True)
    assert loaded["epoch"] == 3
    fresh = torch.optim.AdamW(model.parameters(), lr=1e-3)
    fresh.load_state_dict(loaded["optimizer"])
    assert ckpt.list_saved_epochs(tmp_path) == [3]


@pytest.mark.slow
def test_offline_minilm_encoder_forward():
    from encoders.registry import OFFLINE_ENCODER

    encoder, tokenizer = load_encoder(OFFLINE_ENCODER)
    model = create_relevance_model(encoder, n_classes=3).eval()
    batch = tokenizer(["a goldfish in a bowl", "tench"], padding=True, return_tensors="pt")
    assert model.num_features == 384
    assert model(batch["input_ids"], batch["attention_mask"]).shape == (2, 3)
