"""AppTest of the Evaluation page on a real DuckDB file holding saved protocol and few-shot runs."""

from __future__ import annotations

import pytest

import jobs.worker  # noqa: F401  (imported first: AppTest puts pages/ on sys.path)
from contract.storage import compute_storage
from tests.conftest import REPO_ROOT, open_page

PAGE = str(REPO_ROOT / "pages" / "evaluation.py")
CAT, ESPRESSO = "n02123045", "n07920052"


@pytest.fixture(scope="module")
def eval_db_path(tmp_path_factory):
    from curation.catalog import seed_imagenet1k
    from db.connect import connect
    from extension.evaluation.fewshot import run_fewshot
    from extension.evaluation.protocol import run_evaluation
    from extension.images.sets import register_image_set
    from extension.specs import EvalSpec, FewShotSpec
    from tests.unit.eval_helpers import (
        add_class_texts,
        donor_wnids,
        write_photo_folder,
        write_tiny_model,
    )

    root = tmp_path_factory.mktemp("evalpage")
    photos = write_photo_folder(root / "photos")
    model = write_tiny_model(root / "tiny.safetensors")
    path = root / "app.duckdb"
    con = connect(path)
    try:
        seed_imagenet1k(con)
        add_class_texts(con, donor_wnids(sorted(p.name for p in photos.iterdir()), n=10))
        set_id = register_image_set(con, photos, name="photos")
        for seed in (0, 1):
            spec = EvalSpec(
                set_id,
                classes=(CAT, ESPRESSO),
                n=6,
                seed=seed,
                n_bootstrap=20,
                model=model,
                min_positives=3,
            )
            run_evaluation(con, spec, cache_dir=root / "cache")
        run_fewshot(
            con,
            FewShotSpec(set_id, classes=(CAT,), shots=(1, 2), repeats=1, steps=10, model=model),
            cache_dir=root / "cache",
        )
    finally:
        con.close()
    return path


@pytest.fixture
def page(eval_db_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DB", str(eval_db_path))
    return open_page(PAGE, timeout=120)


def _tab(at, name: str):
    at.query_params["tab"] = name
    return at


def test_results_show_chart_rule_table_and_curves(page):
    at = page.run()
    assert not at.exception
    assert any("Decision rule 'crossfit'" in i.value for i in at.info)
    table = at.dataframe[0].value
    assert set(table["method"]) == {"trained", "paper-cosine", "paper-euclidean"}
    assert table["F1"].str.contains(r"\[").all()  # value [low, high]
    charts = at.get("plotly_chart")
    assert len(charts) >= 3  # bars, ROC, PR (plus the other tabs' charts)


def test_switching_metric_and_filtering_methods(page):
    at = page.run()
    at.selectbox(key="res-metric").set_value("AUROC").run()
    assert not at.exception
    at.multiselect(key="res-methods").set_value(["trained"]).run()
    assert not at.exception
    assert set(at.dataframe[0].value["method"]) == {"trained"}


def test_comparison_fewshot_and_hierarchy_tabs(page):
    at = _tab(page, "Compare runs").run()
    assert not at.exception
    assert at.multiselect(key="cmp-runs").value == [2, 1]
    comparison = at.dataframe[0].value
    assert {"run 1", "run 2"} <= set(comparison.columns)
    at = _tab(at, "Few-shot").run()
    assert at.selectbox(key="fs-run").value == 3
    at = _tab(at, "Hierarchy").run()
    groups = [df.value for df in at.dataframe if "group" in df.value.columns][0]
    assert "cat" in set(groups["group"])


def test_new_run_says_what_the_set_supports_before_a_run(page):
    at = _tab(page, "New run").run()
    assert not at.exception
    support = next(d.value for d in at.dataframe if "support" in d.value.columns)
    assert "pooled" in set(support["support"])  # most classes: 3 photos < 5
    assert any("fewer than 5 images" in i.value for i in at.info)
    assert at.button(key="fs-start").disabled  # k = 25 needs more than 25 photos per class
    assert any("Few-shot baseline unavailable" in c.value for c in at.caption)


def test_empty_database_explains_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "empty.duckdb"))
    at = open_page(PAGE, timeout=60).run()
    assert not at.exception
    assert any("No evaluation runs yet" in i.value for i in at.info)


def test_register_a_folder_from_the_page(page, tmp_path):
    import shutil

    from tests.unit.eval_helpers import FOOLBOX_DATA

    folder = tmp_path / "mine" / "n02123045"
    folder.mkdir(parents=True)
    shutil.copy(sorted(FOOLBOX_DATA.glob("imagenet_*.jpg"))[0], folder / "a.jpg")
    at = _tab(page, "Image sets").run()
    at.text_input(key="reg-source").set_value(str(tmp_path / "mine"))
    at.text_input(key="reg-name").set_value("page-set")
    next(b for b in at.button if b.label == "Register").click().run()
    assert not at.exception
    assert any("Registered set" in s.value for s in at.success)
    assert "page-set" in at.dataframe[0].value["name"].to_list()  # listed in the same run
    at.text_input(key="reg-source").set_value(str(tmp_path / "nowhere"))
    at.text_input(key="reg-name").set_value("bad-set")
    next(b for b in at.button if b.label == "Register").click().run()
    assert any("does not exist" in e.value for e in at.error)


def test_register_the_sample_photos(page, eval_db_path):
    at = _tab(page, "Image sets").run()
    at.button(key="sets-samples").click().run()
    assert not at.exception
    assert any("Registered set" in s.value for s in at.success)
    assert "sample-photos" in at.dataframe[0].value["name"].to_list()
    assert at.button(key="sets-embed") is not None  # the next step is there, no reload
    folder = compute_storage(eval_db_path).sample_photos  # in the database's storage root
    photos = sorted(folder.glob("*/*.jpg"))
    assert len(photos) == 20 and all(p.parent.name.startswith("n") for p in photos)
    at.button(key="sets-samples").click().run()  # again: the same set, nothing duplicated
    assert not at.exception
    assert len(sorted(folder.glob("*/*.jpg"))) == 20


@pytest.fixture(scope="module")
def pooled_db_path(tmp_path_factory):
    """One photo per class (a fresh walk's sample photos): a run of only pooled classes,
    which has AUROC and AP but no F1."""
    from curation.catalog import seed_imagenet1k
    from db.connect import connect
    from extension.evaluation.protocol import run_evaluation
    from extension.images.sets import register_image_set
    from extension.specs import EvalSpec
    from tests.unit.eval_helpers import (
        add_class_texts,
        donor_wnids,
        write_photo_folder,
        write_tiny_model,
    )

    root = tmp_path_factory.mktemp("evalpooled")
    photos = write_photo_folder(root / "photos", variants=1)
    classes = tuple(sorted(p.name for p in photos.iterdir()))[:6]
    path = root / "app.duckdb"
    con = connect(path)
    try:
        seed_imagenet1k(con)
        add_class_texts(con, donor_wnids(sorted(p.name for p in photos.iterdir()), n=10))
        set_id = register_image_set(con, photos, name="one-each")
        spec = EvalSpec(
            set_id,
            classes=classes,
            n=1000,
            n_bootstrap=10,
            model=write_tiny_model(root / "tiny.safetensors"),
        )
        run_evaluation(con, spec, cache_dir=root / "cache")
    finally:
        con.close()
    return path


@pytest.fixture
def pooled_page(pooled_db_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DB", str(pooled_db_path))
    return open_page(PAGE, timeout=120)


def test_a_pooled_run_opens_on_a_metric_it_computed(pooled_page):
    at = pooled_page.run()
    assert not at.exception
    assert at.selectbox(key="res-metric").value == "AUROC"
    run_label = at.selectbox(key="res-run").format_func(at.selectbox(key="res-run").value)
    assert "n=1000" not in run_label and "pooled over 6 classes (6 images)" in run_label
    for tab, key in (("Hierarchy", "hier-metric"), ("Compare runs", "cmp-metric")):
        at = _tab(at, tab).run()
        assert not at.exception
        assert at.selectbox(key=key).value == "AUROC"
        assert not any("Nothing to" in i.value for i in at.info)


def test_new_run_defaults_to_every_class_of_the_set(pooled_page, pooled_db_path):
    at = _tab(pooled_page, "New run").run()
    assert not at.exception
    assert at.radio(key="new-scope").value == "all"
    support = next(d.value for d in at.dataframe if "support" in d.value.columns)
    n_classes = len(list((pooled_db_path.parent / "photos").iterdir()))
    assert len(support) == n_classes > 4  # every class of the set, not the first four
    assert not [m for m in at.multiselect if m.key == "new-classes"]
    at.radio(key="new-scope").set_value("Choose classes").run()
    assert at.multiselect(key="new-classes").value  # a subset, picked in the multiselect
