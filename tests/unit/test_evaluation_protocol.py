"""The paper's protocol end to end on real photos with a tiny timm model (pretrained=False)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cli.main import main
from curation.catalog import seed_imagenet1k
from db import evaluation as eval_db
from db import image_sets as set_db
from db.connect import connect
from extension.evaluation.protocol import compute_class_sample, run_evaluation
from extension.evaluation.rules import ScoredClass, compute_class_metrics, list_rules
from extension.images.sets import (
    load_image_list,
    register_image_set,
    run_embed_image_set,
)
from extension.images.store import open_feature_store
from extension.specs import EmbedSpec, EvalSpec
from tests.unit.eval_helpers import (
    add_class_texts,
    donor_wnids,
    write_photo_folder,
    write_tiny_model,
)

CAT, ESPRESSO = "n02123045", "n07920052"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A database with the catalog, class texts, and the photo folder registered."""
    root = tmp_path_factory.mktemp("eval")
    photos = write_photo_folder(root / "photos")
    model = write_tiny_model(root / "tiny.safetensors")
    con = connect(root / "w.duckdb")
    seed_imagenet1k(con)
    add_class_texts(con, donor_wnids(sorted(p.name for p in photos.iterdir())))
    set_id = register_image_set(con, photos, name="photos")
    con.close()
    return {
        "root": root,
        "photos": photos,
        "model": model,
        "db": root / "w.duckdb",
        "cache": root / "cache",
        "set_id": set_id,
    }


@pytest.fixture
def wcon(world):
    con = connect(world["db"])
    yield con
    con.close()


def test_sampling_is_seeded_capped_and_per_class():
    labels = np.array(["a"] * 30 + ["b"] * 50 + ["c"] * 20)
    first = compute_class_sample(labels, "a", n=10, seed=1)
    assert [a.tolist() for a in first] == [
        a.tolist() for a in compute_class_sample(labels, "a", n=10, seed=1)
    ]
    assert [a.tolist() for a in first] != [
        a.tolist() for a in compute_class_sample(labels, "a", n=10, seed=2)
    ]
    pos, neg = first
    assert len(pos) == len(neg) == 10 and (labels[pos] == "a").all() and (labels[neg] != "a").all()
    pos, neg = compute_class_sample(labels, "c", n=1000, seed=0)  # capped by what the set holds
    assert len(pos) == 20 and len(neg) == 80
    # Adding another class to the pool's labels does not move class a's positives.
    more = np.r_[labels, ["d"] * 5]
    assert compute_class_sample(more, "a", n=10, seed=1)[0].tolist() == first[0].tolist()
    pos, neg = compute_class_sample(labels, "c", n=1000, seed=0, balanced=True)
    assert len(pos) == len(neg) == 20
    with pytest.raises(ValueError, match="need both"):
        compute_class_sample(labels, "zzz", n=5, seed=0)


def test_decision_rules_are_stated_and_behave():
    rules = list_rules()
    assert {"crossfit", "argmax", "logit0"} <= set(rules)
    # Each statement says what "positive" means under its rule.
    assert "other half of the class's sample" in rules["crossfit"]
    assert "1000-way argmax" in rules["argmax"]
    assert "logit is above 0" in rules["logit0"]
    labels = np.r_[np.ones(20, bool), np.zeros(20, bool)]
    scores = np.r_[np.linspace(1, 3, 20), np.linspace(-3, 0.5, 20)]
    rival = np.full(40, 2.0)
    intervals, decisions = compute_class_metrics(
        ScoredClass(scores, labels, rival, 0), n_bootstrap=20
    )
    assert decisions["argmax"].tolist() == (scores > 2.0).tolist()
    assert decisions["logit0"].tolist() == (scores > 0).tolist()
    assert intervals["f1@crossfit"].value == pytest.approx(
        1.0
    )  # separable: a held-out threshold finds it
    assert intervals["auroc"].value == pytest.approx(1.0)


def test_corrupt_image_is_reported_and_skipped_and_embedding_resumes(world, wcon):
    spec = EmbedSpec(world["set_id"], model=world["model"], chunk_size=16)
    first = run_embed_image_set(wcon, spec, cache_dir=world["cache"])
    assert first["n_failed"] == 1 and first["n_embedded"] == first["n_items"] - 1
    errors = set_db.list_image_errors(wcon, world["set_id"])
    assert errors["path"].to_list()[0].endswith("broken.jpg")
    assert run_embed_image_set(wcon, spec, cache_dir=world["cache"])["n_new"] == 0  # all cached
    # An interruption loses at most the chunk being written: drop one shard, only it is redone.
    store = open_feature_store(first["model_key"], cache_dir=world["cache"])
    shard = sorted(store.folder.glob("shard-*.safetensors"))[0]
    from safetensors.torch import load_file

    lost = load_file(str(shard))["features"].shape[0]
    shard.unlink()
    again = run_embed_image_set(wcon, spec, cache_dir=world["cache"])
    assert 0 < lost <= 16 and again["n_new"] == lost and again["n_embedded"] == first["n_embedded"]


def test_list_file_registration_and_bad_lines(world, wcon, tmp_path):
    files = sorted((world["photos"] / CAT).glob("*.jpg"))
    listing = tmp_path / "list.tsv"
    listing.write_text(
        "".join(f"{f}\t{CAT}\n" for f in files) + f"# comment\n{files[0]},{ESPRESSO}\n"
    )
    pairs = load_image_list(listing)
    assert len(pairs) == len(files) + 1
    set_id = register_image_set(wcon, listing, name="listed", kind="list")
    assert register_image_set(wcon, listing, name="listed", kind="list") == set_id  # idempotent
    bad = tmp_path / "bad.tsv"
    bad.write_text(f"{files[0]}\t{CAT}\njust-a-path\n")
    with pytest.raises(ValueError, match="line 2"):
        load_image_list(bad)
    with pytest.raises(ValueError, match="already exists"):
        register_image_set(wcon, world["photos"], name="listed")


def test_protocol_run_stores_what_it_returns(world, wcon):
    spec = EvalSpec(
        world["set_id"],
        classes=(CAT, ESPRESSO),
        n=5,
        n_bootstrap=30,
        balanced=False,
        model=world["model"],
        min_positives=3,
    )
    result = run_evaluation(wcon, spec, cache_dir=world["cache"])
    entry = result["classes"][CAT]
    assert entry["n_pos"] == 3 and entry["n_neg"] == 5  # 3 photos of the cat, capped
    assert set(entry["methods"]) == {"trained", "paper-cosine", "paper-euclidean"}
    assert entry["references"]["all_positive_f1"] == pytest.approx(2 * (3 / 8) / (1 + 3 / 8))
    stored = eval_db.list_eval_metrics(wcon, [result["run_id"]])
    row = stored.filter(
        (stored["wnid"] == CAT)
        & (stored["method"] == "paper-cosine")
        & (stored["metric"] == "auroc")
    )
    assert row["value"][0] == pytest.approx(entry["methods"]["paper-cosine"]["auroc"]["value"])
    for metrics in entry["methods"].values():
        for v in metrics.values():
            assert v["low"] <= v["value"] <= v["high"]
    scores = eval_db.list_eval_scores(wcon, result["run_id"], wnid=CAT, methods=["trained"])
    assert scores.height == 8 and scores["label"].sum() == 3
    run = eval_db.get_eval_run(wcon, result["run_id"])
    assert EvalSpec.from_dict(run["spec"]) == spec


def test_new_class_against_negatives_from_another_set(world, wcon, tmp_path):
    from db.added_classes import insert_added_class

    folder = tmp_path / "mine" / "custom-tabby-photos"
    folder.mkdir(parents=True)
    for f in sorted((world["photos"] / CAT).glob("*.jpg")):
        shutil.copy(f, folder / f"mine-{f.name}")
    wcon.execute("BEGIN TRANSACTION")
    insert_added_class(
        wcon,
        {
            "wnid": "custom-tabby-photos",
            "name": "my cat",
            "description": "a domestic cat with a striped coat, a pet feline",
            "texts_json": "[]",
            "texts_sha256": "-",
            "spec_json": "{}",
            "text_build_id": 0,
            "text_fingerprint": "-",
            "n_tokens": 0,
            "created_by": "test",
        },
        [],
    )
    wcon.execute("COMMIT")
    own = register_image_set(wcon, tmp_path / "mine", name="mine", kind="folder")
    spec = EvalSpec(
        own,
        classes=("custom-tabby-photos",),
        n=10,
        n_bootstrap=10,
        negative_sets=(world["set_id"],),
        model=world["model"],
        min_positives=3,
    )
    result = run_evaluation(wcon, spec, cache_dir=world["cache"])
    entry = result["classes"]["custom-tabby-photos"]
    # Balanced by default: as many negatives (from the other set) as the class has photos.
    assert entry["row_source"] == "added" and entry["n_pos"] == 3 and entry["n_neg"] == 3
    assert set(entry["methods"]) == {
        "paper-cosine",
        "paper-euclidean",
    }  # no trained row for a new class


def test_one_photo_per_class_gets_a_pooled_auroc_and_no_per_class_f1(world, wcon, tmp_path):
    one_each = tmp_path / "one-each"
    for folder in sorted(world["photos"].iterdir())[:6]:
        (one_each / folder.name).mkdir(parents=True)
        first = sorted(p for p in folder.iterdir() if p.name != "broken.jpg")[0]
        shutil.copy(first, one_each / folder.name / first.name)
    set_id = register_image_set(wcon, one_each, name="one-each")
    classes = tuple(sorted(p.name for p in one_each.iterdir()))
    spec = EvalSpec(set_id, classes=classes, n=1000, n_bootstrap=50, model=world["model"])
    result = run_evaluation(wcon, spec, cache_dir=world["cache"])
    for wnid in classes:
        entry = result["classes"][wnid]
        assert entry["support"] == "pooled"
        assert (entry["n_pos"], entry["n_neg"]) == (1, 5)  # its photo against every other one
        assert set(entry["methods"]["trained"]) == {"auroc", "ap"}  # no F1, no decision rule
    pooled = result["pooled"]
    assert pooled["classes"] == list(classes) and "fewer than 5 images" in pooled["reason"]
    trained = [result["classes"][w]["methods"]["trained"]["auroc"]["value"] for w in classes]
    assert pooled["auroc"]["trained"]["value"] == pytest.approx(sum(trained) / len(trained))
    assert pooled["auroc"]["trained"]["n_classes"] == 6
    low, high = pooled["auroc"]["trained"]["low"], pooled["auroc"]["trained"]["high"]
    assert low <= pooled["auroc"]["trained"]["value"] <= high and low < high
    # The run's name gives what the pooled figure was computed on, not the n asked for.
    name = eval_db.get_eval_run(wcon, result["run_id"])["name"]
    assert "n=1000" not in name and "pooled over 6 classes (6 images)" in name


def test_cli_evaluate_json_prints_the_stored_numbers(world, capsys):
    code = main(
        [
            "evaluate",
            "--db",
            str(world["db"]),
            "--images",
            "photos",
            "--classes",
            CAT,
            "--n",
            "4",
            "--bootstrap",
            "10",
            "--min-positives",
            "3",
            "--model",
            "test_efficientnet",
            "--weights",
            world["model"].weights_path,
            "--cache-dir",
            str(world["cache"]),
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    con = connect(world["db"])
    try:
        stored = eval_db.list_eval_metrics(con, [out["run_id"]])
    finally:
        con.close()
    f1 = stored.filter((stored["method"] == "trained") & (stored["metric"] == "f1@crossfit"))[
        "value"
    ][0]
    assert out["classes"][CAT]["methods"]["trained"]["f1@crossfit"]["value"] == pytest.approx(f1)
    assert out["default_rule"] == "crossfit"


def test_unknown_class_and_method_are_named(world, wcon):
    spec = EvalSpec(
        world["set_id"], classes=("n99999999",), n=3, n_bootstrap=0, model=world["model"]
    )
    with pytest.raises(ValueError, match="n99999999"):
        run_evaluation(wcon, spec, cache_dir=world["cache"])
    from extension.evaluation.heads import resolve_methods

    with pytest.raises(ValueError, match="Unknown method .no-such-method.; known: "):
        resolve_methods(["no-such-method"])


def test_cli_image_sets_add_and_list(world, capsys, tmp_path):
    folder = tmp_path / "few" / ESPRESSO
    folder.mkdir(parents=True)
    for f in sorted((world["photos"] / ESPRESSO).glob("*.jpg"))[:2]:
        shutil.copy(f, folder / f.name)
    assert (
        main(
            [
                "image-sets",
                "add",
                str(tmp_path / "few"),
                "--name",
                "two-espressos",
                "--db",
                str(world["db"]),
                "--json",
            ]
        )
        == 0
    )
    added = json.loads(capsys.readouterr().out)
    assert added["n_items"] == 2 and added["kind"] == "folder"
    assert main(["image-sets", "list", "--db", str(world["db"]), "--json"]) == 0
    names = {row["name"] for row in json.loads(capsys.readouterr().out)}
    assert {"photos", "two-espressos"} <= names
    assert main(["image-sets", "add", str(tmp_path / "missing"), "--db", str(world["db"])]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_jobs_run_embedding_evaluation_and_fewshot(world, wcon, tmp_path, monkeypatch):
    from db import jobs as job_db
    from extension.specs import FewShotSpec
    from jobs.worker import run_queued_jobs, submit_job

    monkeypatch.chdir(tmp_path)  # to show that nothing lands in the working folder
    model = world["model"]
    ids = [
        submit_job(
            wcon, kind="embed-image-set", spec=EmbedSpec(world["set_id"], model=model).to_dict()
        ),
        submit_job(
            wcon,
            kind="evaluate",
            spec=EvalSpec(
                world["set_id"], classes=(CAT,), n=3, n_bootstrap=5, model=model
            ).to_dict(),
        ),
        submit_job(
            wcon,
            kind="fewshot",
            spec=FewShotSpec(
                world["set_id"], classes=(CAT,), shots=(1,), repeats=1, steps=5, model=model
            ).to_dict(),
        ),
    ]
    assert run_queued_jobs(wcon) == 3
    jobs = [job_db.get_job(wcon, i) for i in ids]
    assert [j["status"] for j in jobs] == ["succeeded"] * 3, [j["error"] for j in jobs]
    assert eval_db.get_eval_run(wcon, jobs[1]["result"]["run_id"])["kind"] == "protocol"
    assert eval_db.get_eval_run(wcon, jobs[2]["result"]["run_id"])["kind"] == "fewshot"
    # Jobs cache under the database's storage root, whatever the working folder.
    from db.storage import get_storage

    assert (get_storage(wcon).cache / "embeddings").is_dir()
    assert not (tmp_path / ".cache").exists()
