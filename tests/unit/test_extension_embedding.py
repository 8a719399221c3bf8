"""The sentence-embedding distance: cached text vectors, class pooling, blended kernels,
neighbours with their reasons, and a calibrated embedding-kernel row stored with its set
(tiny random encoder; the real all-MiniLM-L6-v2 is in tests/slow)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from db import added_classes as added_db
from extension.images.sets import register_image_set, run_embed_image_set
from extension.specs import AddClassSpec, EmbedSpec, SynthesisSpec
from extension.synthesis.donors import load_donors
from extension.synthesis.methods import (
    SynthesisInputs,
    complete_spec,
    compute_rows,
    resolve_method,
)
from extension.synthesis.neighbours import compute_preview
from extension.synthesis.new_class import list_calibration_sets, run_add_class
from extension.text.distances import get_distance_vectors, list_distances
from extension.text.embedding import (
    compute_pooled_vector,
    get_class_embedding_state,
    load_class_embeddings,
    load_text_encoder,
)
from tests.extension_helpers import TEXTS, TINY_MODEL, insert_texts, load_tiny_base_and_donors


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    from curation.relevance.tiny import build_tiny_encoder

    texts = [c[0][0][0] + " " + c[0][0][1] + " " + c[1] for c in TEXTS.values()]
    return build_tiny_encoder(
        tmp_path_factory.mktemp("encoder"), texts * 10, vocab_size=300, hidden_size=32
    )


@pytest.fixture
def text_con(catalog_con):
    insert_texts(catalog_con)
    return catalog_con


def test_text_vectors_are_cached_per_encoder_and_text(encoder_dir, tmp_path):
    encoder = load_text_encoder(str(encoder_dir), cache_dir=tmp_path)
    first = encoder.embed(["a striped cat", "a green fish"])
    torch.testing.assert_close(first.norm(dim=1), torch.ones(2))
    shards = sorted(encoder.store.folder.glob("shard-*.safetensors"))
    assert len(shards) == 1
    model, encoder.model = encoder.model, None  # a cached text never reaches the model
    torch.testing.assert_close(encoder.embed(["a green fish", "a striped cat"]), first.flip(0))
    encoder.model = model
    fresh = encoder.embed(["a striped cat", "free text typed on a page"], cache=False)
    torch.testing.assert_close(fresh[0], first[0])
    assert sorted(encoder.store.folder.glob("shard-*.safetensors")) == shards  # nothing written
    # Another encoder (other weights) has its own key, so it never reads these vectors.
    other_dir = tmp_path / "other"
    from curation.relevance.tiny import build_tiny_encoder

    build_tiny_encoder(other_dir, ["a striped cat"] * 20, vocab_size=300, hidden_size=32, seed=1)
    assert load_text_encoder(str(other_dir), cache_dir=tmp_path).key != encoder.key


def test_a_long_lived_reader_sees_shards_a_job_wrote_later(tmp_path):
    """Issue 17 item 1: the page's cached store answered from the folder as it was when it
    first looked, so a finished embedding job looked unfinished forever."""
    from contract.vectors import VectorStore

    reader, writer = VectorStore(tmp_path / "v"), VectorStore(tmp_path / "v")
    assert reader.known() == set()
    writer.write_shard(["ab" * 32], torch.ones(1, 3))
    assert reader.known() == {"ab" * 32}
    torch.testing.assert_close(reader.get(["ab" * 32]), torch.ones(1, 3))
    reader.write_shard(["cd" * 32], torch.zeros(1, 3))
    assert writer.known() == {"ab" * 32, "cd" * 32}
    assert len(list((tmp_path / "v").glob("shard-*"))) == 2


def test_a_cancel_acts_within_one_batch_not_one_shard(encoder_dir, tmp_path):
    """Issue 17 item 7: a cancel waited for the next whole shard (thousands of texts)."""

    class Cancelled(Exception):
        pass

    calls = []

    def progress(fraction: float, message: str = "") -> None:
        calls.append(fraction)
        if len(calls) == 2:  # the first report after the start: the user pressed Cancel
            raise Cancelled

    encoder = load_text_encoder(str(encoder_dir), cache_dir=tmp_path, batch_size=2)
    with pytest.raises(Cancelled):
        encoder.embed([f"text number {i}" for i in range(10)], progress)
    assert calls[-1] < 1.0  # raised after a batch, before the shard was finished
    assert not list(encoder.store.folder.glob("shard-*.safetensors"))


def test_class_vectors_weight_the_description_like_all_captions(text_con, encoder_dir, tmp_path):
    encoder = load_text_encoder(str(encoder_dir), cache_dir=tmp_path)
    # One more caption for the tench, so the pooling differs from a plain mean.
    text_con.execute(
        "INSERT INTO captions (source, filename, wnid, title, description, tags) "
        "VALUES ('test', 'x.JPEG', 'n01440764', 'tench', 'a big fish', ['net'])"
    )
    embeddings = load_class_embeddings(text_con, encoder)
    assert set(embeddings.wnids) == set(TEXTS)
    row = embeddings.wnids.index("n01440764")
    captions, description = TEXTS["n01440764"]
    texts = [" ".join([captions[0][0], captions[0][1], *captions[0][2]]), "tench a big fish net"]
    description = "tench, Tinca tinca. " + description.rstrip(". ") + "."  # the class text
    vectors = encoder.embed([*texts, description])
    expected = torch.nn.functional.normalize(
        0.5 * vectors[2] + 0.25 * (vectors[0] + vectors[1]), dim=0
    )
    torch.testing.assert_close(embeddings.vectors[row], expected)
    pooled = compute_pooled_vector(vectors, torch.tensor([False, False, True]))
    torch.testing.assert_close(pooled, expected)
    # A page's script thread reads only what is cached: a new text means "not ready yet".
    text_con.execute(
        "INSERT INTO captions (source, filename, wnid, title, description, tags) "
        "VALUES ('test', 'y.JPEG', 'n01440764', 'another tench', '', [])"
    )
    assert load_class_embeddings(text_con, encoder, embed_missing=False) is None
    assert get_class_embedding_state(text_con, encoder) == {
        "n_texts": 2 * len(TEXTS) + 2,
        "n_missing": 1,
        "state": "partial",
    }


def test_embedding_distance_is_registered_beside_the_paper_distances():
    assert list_distances("tokens") == ["cosine", "euclidean"]
    assert "embedding" in list_distances() and get_distance_vectors("embedding") == "embedding"
    with pytest.raises(ValueError, match="needs features 'embedding'"):
        complete_spec(SynthesisSpec("topk", "embedding", features="sqrt-idf"))
    with pytest.raises(ValueError, match="Unknown features"):
        complete_spec(SynthesisSpec("ridge", "cosine", features="paper+paper"))
    assert complete_spec(SynthesisSpec("topk", "embedding", features="embedding"))


def test_blended_kernel_mixes_the_two_cosines():
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 3.0]], dtype=torch.float64)
    e = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8]], dtype=torch.float64)
    qx, qe = torch.tensor([[2.0, 0.0]], dtype=torch.float64), torch.tensor([[0.0, 1.0]]).double()
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]], dtype=torch.float64)
    b = torch.zeros(3, dtype=torch.float64)

    def inputs(q, m, name):
        return SynthesisInputs(q @ m.T, (q * q).sum(1), m @ m.T, w, b, torch.tensor([-1]), name)

    tokens, emb = inputs(qx, x, "sqrt-idf"), inputs(qe, e, "embedding")
    both = replace(tokens, variants={"sqrt-idf": tokens, "embedding": emb})
    spec = SynthesisSpec("topk", "cosine", (("k", 1), ("blend_weight", 0.75)), "sqrt-idf+embedding")
    # Blended cosine similarities to the 3 donors: .25 * (1, .707, 0) + .75 * (1, 0, .8)
    # = (1, .177, .6): donor 0 is nearest.
    rows, _ = compute_rows(both, spec)
    torch.testing.assert_close(rows, w[:1].float())
    only_tokens = replace(spec, params=(("k", 1), ("blend_weight", 0.0)))
    only_emb = replace(spec, params=(("k", 2), ("blend_weight", 1.0)))
    torch.testing.assert_close(compute_rows(both, only_tokens)[0], w[:1].float())
    # Embedding alone: donors 0 (cos 1) and 2 (cos .8) are the two nearest.
    torch.testing.assert_close(compute_rows(both, only_emb)[0], ((w[0] + w[2]) / 2)[None].float())


def test_preview_gives_neighbours_per_distance_with_their_reasons(text_con, encoder_dir, tmp_path):
    base, token_donors = load_tiny_base_and_donors(text_con)
    encoder = load_text_encoder(str(encoder_dir), cache_dir=tmp_path)
    donors = load_donors(text_con, base.head, list(base.class_wnids), text_encoder=encoder)
    texts = ["a striped cat with whiskers", "a cat asleep"]
    preview = compute_preview(donors, texts, k=3)
    assert list(preview.nearest) == ["cosine", "embedding", "euclidean"]
    assert list(compute_preview(token_donors, texts, k=3).nearest) == ["cosine", "euclidean"]
    cosine = preview.nearest["cosine"].row(0, named=True)
    assert cosine["name"] in {"tabby", "tiger cat", "Egyptian cat"}
    # Token reasons: the largest terms q_v * x_v of the inner product, by hand.
    vector = token_donors.stats.vocab
    q = {"striped": 0.5, "cat": 1.0, "with": 0.5, "whiskers": 0.5, "asleep": 0.5}
    row = token_donors.stats.to_sparse().to_dense()[token_donors.stats.row_index()[cosine["wnid"]]]
    terms = {t: q[t] * float(row[vector.index(t)]) for t in q if t in vector}
    best = sorted((v for v in terms.values() if v > 0), reverse=True)[:3]
    assert [terms[t] for t in cosine["evidence"]] == pytest.approx(best)  # ties in any order
    assert "shared tokens: " in cosine["reason"]
    shares = [terms[t] / sum(terms.values()) for t in cosine["evidence"]]
    assert cosine["evidence_score"] == pytest.approx(shares, abs=1e-4)  # share of q.x
    # Sentence reasons: the neighbour's own text closest to one of the new texts.
    emb = preview.nearest["embedding"].row(0, named=True)
    own = [
        i
        for i, o in enumerate(donors.embeddings.owner.tolist())
        if o == donors.index()[emb["wnid"]]
    ]
    sims = encoder.embed(texts, cache=False) @ donors.embeddings.text_vectors[own].T
    assert emb["evidence"] == [donors.embeddings.texts[own[int(sims.max(0).values.argmax())]]]
    assert emb["evidence_score"][0] == pytest.approx(float(sims.max()), abs=1e-4)
    side = preview.side_by_side
    assert side.columns[:4] == ["rank", "cosine", "cosine distance", "cosine why"]
    assert side["rank"].to_list() == [1, 2, 3] and "embedding why" in side.columns
    assert side["embedding"].to_list() == preview.nearest["embedding"]["name"].to_list()
    assert side["cosine why"].to_list() == preview.nearest["cosine"]["reason"].to_list()


def test_calibrated_embedding_row_is_stored_with_its_image_set(text_con, encoder_dir, tmp_path):
    from tests.extension_helpers import write_images

    folder = write_images(tmp_path / "calib", sorted(TEXTS)[:5], per_class=2)
    set_id = register_image_set(text_con, folder, name="calibration")
    cache = tmp_path / "cache"
    assert list_calibration_sets(text_con, "no-such-model").is_empty()
    embedded = run_embed_image_set(text_con, EmbedSpec(set_id, model=TINY_MODEL), cache_dir=cache)
    sets = list_calibration_sets(text_con, embedded["model_key"])
    assert sets.select("set_id", "name", "n_embedded").row(0) == (set_id, "calibration", 10)
    spec = AddClassSpec(
        class_id="custom-house-cat",
        name="house cat",
        description="A small domestic cat with striped fur and whiskers.",
        methods=(resolve_method("ridge-deviation-idf-emb-zscore"), resolve_method("paper-cosine")),
        model=TINY_MODEL,
        device="cpu",
        calibration_set_id=set_id,
        text_encoder=str(encoder_dir),
    )
    without = replace(spec, calibration_set_id=None)
    with pytest.raises(ValueError, match="choose a registered image set"):
        run_add_class(text_con, without, cache_dir=cache)
    result = run_add_class(text_con, spec, cache_dir=cache)
    assert "embedding" in result["nearest"]
    heads = added_db.list_synthesized_heads(text_con, wnid="custom-house-cat")
    first, second = heads.row(0, named=True), heads.row(1, named=True)
    assert first["calibration"] == "zscore" and first["calibration_set_id"] == set_id
    assert json.loads(first["calibration_json"]) == {
        "source": f"image set {set_id}",
        "n_images": 10,
    }
    assert second["calibration"] == "none" and second["calibration_set_id"] is None
    expected = resolve_method("ridge-deviation-idf-emb-zscore").calibration_params
    assert json.loads(first["spec_json"])["calibration_params"] == [list(p) for p in expected]


def test_cli_text_embeddings_and_a_calibrated_embedding_loo(
    text_con, db_path, encoder_dir, tmp_path, capsys, monkeypatch
):
    from cli.main import main
    from tests.extension_helpers import write_images

    text_con.close()
    monkeypatch.chdir(tmp_path)  # caches go to the storage root whatever the working folder
    assert main(["text-embeddings", "--db", str(db_path), "--text-encoder", str(encoder_dir)]) == 0
    out = capsys.readouterr().out
    assert json.loads(out.splitlines()[-1])["n_texts"] == 2 * len(TEXTS)
    wnids = sorted(TEXTS)
    scored = write_images(tmp_path / "scored", wnids[:4], per_class=2)
    calib = write_images(tmp_path / "calib", wnids[4:], per_class=2, size=48)
    args = ["loo", "--db", str(db_path), "--images", str(scored), "--json"]
    args += ["--model", "test_efficientnet", "--no-pretrained", "--device", "cpu"]
    args += ["--text-encoder", str(encoder_dir), "--method", "ridge-deviation-idf-emb-zscore"]
    assert main(args) == 2  # calibrated, but no calibration images: one clear line
    assert "--calibration-images" in capsys.readouterr().err
    assert main([*args, "--calibration-images", str(calib)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "ridge-deviation-idf-emb-zscore"
    assert list(result)[1:5] == ["gen_precision", "pool_images", "gen_recall", "gen_f1"]
    assert result["calibration_images"] == str(calib) and result["n_image_classes"] == 4


def test_cli_add_class_defaults_to_the_fitted_calibration_with_a_set(
    text_con, db_path, encoder_dir, tmp_path, capsys, monkeypatch
):
    from cli.main import main
    from extension.synthesis.methods import list_default_methods
    from tests.extension_helpers import write_images

    folder = write_images(tmp_path / "calib", sorted(TEXTS), per_class=2)
    set_id = register_image_set(text_con, folder, name="calib")
    # The library and the CLI share the database's storage root (not the working directory).
    run_embed_image_set(text_con, EmbedSpec(set_id, model=TINY_MODEL))
    text_con.close()
    args = ["add-class", "--db", str(db_path), "--id", "custom-house-cat", "--name", "house cat"]
    args += ["--description", "A small domestic cat with striped fur and whiskers."]
    args += ["--model", "test_efficientnet", "--no-pretrained", "--device", "cpu"]
    args += ["--text-encoder", str(encoder_dir)]
    assert main([*args, "--calibration-set", "nope"]) == 2
    assert "No image set 'nope'" in capsys.readouterr().err
    assert main([*args, "--calibration-set", "calib"]) == 0
    out = capsys.readouterr().out
    default = list_default_methods(calibration_images=True, embeddings=True)[0]
    assert default == "ridge-deviation-idf-emb-zscore-fit"
    assert f"custom-house-cat (draft): {default} norm" in out
    assert "nearest by embedding:" in out and "closest sentence" in out
    assert "nearest by cosine:" in out and "shared tokens: " in out
