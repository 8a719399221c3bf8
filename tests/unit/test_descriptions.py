"""Class descriptions on a real DuckDB file with the real shipped sources: import, pick,
edit, history, revert, bulk, Wikipedia file import, bad input, concurrent editors, CLI."""

from __future__ import annotations

import json
import threading

import pytest

from cli.main import main as workbench
from curation import descriptions as desc
from curation.description_sources import register_description_source
from db import descriptions as desc_db
from db import sql as sql_db
from db.sql import fetch_value

TENCH, GOLDFISH, SHARK = "n01440764", "n01443537", "n01484850"
PAJAMA = "n03877472"  # class 697: Wiktionary (K-LITE) has no definition for it
TENCH_WIKTIONARY = "A species of freshwater game fish, Tinca tinca."
HOSTILE = (
    "'; DROP TABLE descriptions; --\n<script>alert(1)</script> <img src=x onerror=alert(2)>\n"
    "![tracker](http://example.invalid/x.png) [link](javascript:alert(3)) **bold** $x^2$ "
    ":material/home: \u202eevil\u202c \U0001f41f\r\n\ttabs and trailing space  "
)


@pytest.fixture
def desc_con(catalog_con):
    """The 1000 classes plus the shipped description sources."""
    desc.import_builtin_sources(catalog_con)
    return catalog_con


def _count(con, table: str, where: str = "true") -> int:
    return int(fetch_value(con, f"SELECT count(*) FROM {table} WHERE {where}"))


def test_import_builtin_sources_counts_texts_and_is_idempotent(catalog_con):
    counts = desc.import_builtin_sources(catalog_con)
    assert counts == {"wordnet": 1000, "wiktionary": 994, "gpt": 975}
    before = catalog_con.execute("SELECT * FROM descriptions ORDER BY wnid, source").fetchall()
    assert desc.import_builtin_sources(catalog_con) == counts
    assert catalog_con.execute("SELECT * FROM descriptions ORDER BY wnid, source").fetchall() == (
        before
    )
    candidates = desc.list_description_candidates(catalog_con, TENCH)
    texts = dict(zip(candidates["source"], candidates["text"], strict=True))
    assert texts["wiktionary"] == TENCH_WIKTIONARY
    assert texts["wordnet"].startswith("freshwater dace-like game fish")
    assert texts["gpt"].startswith("A thick-bodied freshwater fish")
    assert "wiktionary" not in desc.list_description_candidates(catalog_con, PAJAMA)["source"]
    licenses = dict(catalog_con.execute("SELECT source, license FROM sources").fetchall())
    assert set(licenses) == {"wordnet", "wiktionary", "gpt", "wikipedia", "manual"}
    assert "CC BY-SA" in licenses["wiktionary"] and licenses["gpt"] == "MIT"


def test_registry_lists_sources_and_rejects_unknown_and_duplicate_keys():
    assert [s.key for s in desc.list_description_sources()] == [
        "wordnet",
        "wiktionary",
        "gpt",
        "wikipedia",
        "manual",
    ]
    assert [s.key for s in desc.list_description_sources(origin="file")] == ["wikipedia"]
    with pytest.raises(ValueError, match=r"known: \['wordnet', 'wiktionary', 'gpt'"):
        desc.get_description_source("wikipedia-de")
    with pytest.raises(ValueError, match="description source 'wordnet' is registered twice"):
        register_description_source("wordnet", title="t", license="l", attribution="a")(dict)


def test_pick_edit_history_revert_and_revert_of_revert(desc_con):
    picked = desc.pick_description(desc_con, TENCH, source="wiktionary", actor="ann")
    assert (picked.changed, picked.revision, picked.conflict) == (True, 1, False)
    edited = desc.update_active_description(
        desc_con, TENCH, text="A greenish fish.", actor="bob", based_on_revision=1
    )
    active = desc.get_active_description(desc_con, TENCH)
    assert (active["source"], active["text"], active["revision"]) == (
        "manual",
        "A greenish fish.",
        2,
    )
    history = desc.list_description_history(desc_con, TENCH)
    assert history["action"].to_list() == ["edit", "pick"]
    assert history["actor"].to_list() == ["bob", "ann"]
    newest = history.row(0, named=True)
    assert (newest["source_before"], newest["text_before"]) == ("wiktionary", TENCH_WIKTIONARY)
    assert (newest["source_after"], newest["text_after"]) == ("manual", "A greenish fish.")
    assert newest["at_time"] is not None and newest["based_on_revision"] == 1

    reverted = desc.revert_description_event(desc_con, edited.event_id, actor="cyd")
    active = desc.get_active_description(desc_con, TENCH)
    assert (active["source"], active["text"], active["revision"]) == (
        "wiktionary",
        TENCH_WIKTIONARY,
        3,
    )
    event = desc_db.get_description_event(desc_con, reverted.event_id)
    assert (event["action"], event["reverts_event_id"]) == ("revert", edited.event_id)

    desc.revert_description_event(desc_con, reverted.event_id, actor="dee")
    assert desc.get_active_description(desc_con, TENCH)["text"] == "A greenish fish."
    undone = desc.undo_last_description_change(desc_con, TENCH, actor="eve")
    assert desc.get_active_description(desc_con, TENCH)["text"] == TENCH_WIKTIONARY
    assert undone.revision == 5
    assert len(desc.list_description_history(desc_con, TENCH)) == 5


def test_revert_of_first_change_clears_and_revisions_keep_counting(desc_con):
    first = desc.pick_description(desc_con, GOLDFISH, source="gpt", actor="ann")
    desc.revert_description_event(desc_con, first.event_id, actor="ann")
    assert desc.get_active_description(desc_con, GOLDFISH) is None
    again = desc.update_active_description(desc_con, GOLDFISH, text="Orange.", actor="ann")
    assert again.revision == 3
    assert desc.get_active_description(desc_con, GOLDFISH)["revision"] == 3


def test_clear_is_recorded_and_can_be_reverted(desc_con):
    desc.pick_description(desc_con, GOLDFISH, source="wordnet", actor="ann")
    cleared = desc.clear_active_description(desc_con, GOLDFISH, actor="bob")
    assert desc.get_active_description(desc_con, GOLDFISH) is None
    event = desc_db.get_description_event(desc_con, cleared.event_id)
    assert (event["action"], event["source_before"], event["text_after"]) == (
        "clear",
        "wordnet",
        None,
    )
    desc.revert_description_event(desc_con, cleared.event_id, actor="bob")
    assert desc.get_active_description(desc_con, GOLDFISH)["source"] == "wordnet"
    frame = desc.list_active_descriptions(desc_con)
    assert frame.columns == [
        "wnid",
        "class_index",
        "name",
        "source",
        "text",
        "revision",
        "updated_by",
        "updated_at",
    ]
    assert frame.row(0, named=True)["revision"] == 3


def test_saving_the_same_text_records_nothing(desc_con):
    desc.update_active_description(desc_con, TENCH, text="Same.", actor="ann")
    again = desc.update_active_description(desc_con, TENCH, text="Same.", actor="bob")
    assert (again.changed, again.event_id, again.revision) == (False, None, 1)
    assert _count(desc_con, "description_events") == 1


def _update(con, wnid=TENCH, text="x", actor="a", **options):
    return desc.update_active_description(con, wnid, text=text, actor=actor, **options)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: _update(c, wnid="n99999999"), "Unknown class 'n99999999'"),
        (lambda c: _update(c, text=""), "empty"),
        (lambda c: _update(c, text=" \n\t"), "empty"),
        (lambda c: _update(c, text="x" * 20_001), "at most 20,000 characters; this one has 20,001"),
        (lambda c: _update(c, text=None), "must be text"),
        (lambda c: _update(c, actor=" "), "actor"),
        (lambda c: _update(c, source="wiki"), "known: \\['wordnet'"),
        (lambda c: _update(c, action="bulk"), "valid actions: edit, pick"),
        (
            lambda c: desc.pick_description(c, PAJAMA, source="wiktionary", actor="a"),
            "sources with one: gpt, wordnet",
        ),
        (
            lambda c: desc.revert_description_event(c, 424242, actor="a"),
            "No description event with id 424242",
        ),
        (
            lambda c: desc.undo_last_description_change(c, TENCH, actor="a"),
            "no description changes",
        ),
        (
            lambda c: desc.use_source_where_unset(c, source="nope", actor="a"),
            "Unknown description source",
        ),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_writes_nothing(desc_con, call, message):
    with pytest.raises(ValueError, match=message):
        call(desc_con)
    assert _count(desc_con, "description_events") == 0
    assert _count(desc_con, "active_descriptions") == 0


def test_longest_allowed_text_and_hostile_text_are_stored_verbatim(desc_con):
    longest = "y" * desc.MAX_DESCRIPTION_CHARS
    desc.update_active_description(desc_con, GOLDFISH, text=longest, actor="a")
    assert desc.get_active_description(desc_con, GOLDFISH)["text"] == longest
    change = desc.update_active_description(desc_con, TENCH, text=HOSTILE, actor="<b>x</b>'--")
    assert desc.get_active_description(desc_con, TENCH)["text"] == HOSTILE
    event = desc_db.get_description_event(desc_con, change.event_id)
    assert (event["text_after"], event["actor"]) == (HOSTILE, "<b>x</b>'--")
    assert _count(desc_con, "descriptions") == 1000 + 994 + 975  # the table is still there


def test_use_source_where_unset_fills_only_unset_classes_in_one_go(desc_con):
    desc.update_active_description(desc_con, TENCH, text="Curated.", actor="ann")
    assert desc.count_unset_with_source(desc_con, source="wiktionary") == 993
    assert desc.use_source_where_unset(desc_con, source="wiktionary", actor="bulk") == 993
    assert desc.get_active_description(desc_con, TENCH)["text"] == "Curated."
    assert _count(desc_con, "description_events", "action = 'bulk'") == 993
    assert desc.use_source_where_unset(desc_con, source="wiktionary", actor="bulk") == 0
    assert desc.use_source_where_unset(desc_con, source="wordnet", actor="bulk") == 6
    coverage = desc.list_description_coverage(desc_con)
    assert coverage["active_source"].null_count() == 0
    assert coverage.filter(coverage["wnid"] == PAJAMA)["active_source"].item() == "wordnet"
    shark = desc.get_active_description(desc_con, SHARK)
    assert (shark["source"], shark["revision"], shark["updated_by"]) == ("wiktionary", 1, "bulk")
    undone = desc.undo_last_description_change(desc_con, SHARK, actor="ann")
    assert undone.changed and desc.get_active_description(desc_con, SHARK) is None


def test_coverage_filters_by_search_and_unset(desc_con):
    coverage = desc.list_description_coverage(desc_con)
    assert coverage.height == 1000
    row = coverage.row(0, named=True)
    assert (row["wnid"], row["wordnet"], row["wiktionary"], row["gpt"], row["wikipedia"]) == (
        TENCH,
        True,
        True,
        True,
        False,
    )
    assert desc.list_description_coverage(desc_con, search="N0144")["wnid"].to_list() == [
        TENCH,
        GOLDFISH,
    ]
    assert "great white shark" in desc.list_description_coverage(desc_con, search="SHARK")["name"]
    desc.pick_description(desc_con, TENCH, source="gpt", actor="a")
    assert desc.list_description_coverage(desc_con, only_unset=True).height == 999
    assert desc.list_active_descriptions(desc_con)["wnid"].to_list() == [TENCH]


def test_diffs_are_plain_text():
    unified = desc.compute_description_diff("A fish. It is green.", "A fish. It is brown.")
    assert "-It is green." in unified and "+It is brown." in unified and " A fish." in unified
    assert desc.compute_word_diff("a green fish", "a brown fish") == "a [-green -]{+brown +}fish"
    assert desc.compute_word_diff("A big grey fish.", "A small red fish.") == (
        "A [-big grey -]{+small red +}fish."
    )
    assert desc.compute_word_diff(None, "new") == "{+new+}"
    assert desc.compute_description_diff("same", "same") == "(no change in text)"


def _edit_in_thread(con, results, barrier, text, revision):
    cursor = con.cursor()
    try:
        barrier.wait(timeout=30)
        results[text] = desc.update_active_description(
            cursor, GOLDFISH, text=text, actor=text, based_on_revision=revision
        )
    except Exception as exc:  # reported to the main thread
        results[text] = exc
    finally:
        cursor.close()


@pytest.mark.parametrize("start_set", [False, True], ids=["first-insert", "update"])
def test_two_concurrent_editors_the_second_save_is_refused_with_their_text(desc_con, start_set):
    revision = 0
    if start_set:
        revision = desc.pick_description(desc_con, GOLDFISH, source="gpt", actor="x").revision
    results, barrier = {}, threading.Barrier(2)
    threads = [
        threading.Thread(target=_edit_in_thread, args=(desc_con, results, barrier, t, revision))
        for t in ("editor one", "editor two")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    saved = [r for r in results.values() if isinstance(r, desc.DescriptionChange)]
    refused = [r for r in results.values() if isinstance(r, desc.DescriptionConflict)]
    assert len(saved) == 1 and len(refused) == 1, results
    assert saved[0].revision == revision + 1 and not saved[0].conflict
    winner = desc.get_active_description(desc_con, GOLDFISH)["text"]
    conflict = refused[0]
    assert (conflict.based_on_revision, conflict.revision) == (revision, revision + 1)
    assert conflict.their_text == winner and conflict.their_actor == winner
    history = desc.list_description_history(desc_con, GOLDFISH)
    assert history["text_after"][0] == winner and history.height == revision + 1
    # "Keep mine": save again, naming the revision now seen.
    loser = "editor one" if winner == "editor two" else "editor two"
    kept = desc.update_active_description(
        desc_con, GOLDFISH, text=loser, actor=loser, based_on_revision=conflict.revision
    )
    assert kept.revision == revision + 2
    assert desc.list_description_history(desc_con, GOLDFISH)["text_before"][0] == winner


def test_a_write_conflict_is_retried_then_the_stale_edit_is_refused(desc_con, monkeypatch):
    desc.pick_description(desc_con, GOLDFISH, source="gpt", actor="x")
    other = desc_con.cursor()
    other.execute("BEGIN TRANSACTION")
    other.execute(
        "UPDATE active_descriptions SET text = 'held', revision = 2 WHERE wnid = ?", [GOLDFISH]
    )
    other.execute(
        "INSERT INTO description_events (wnid, actor, action, text_after, revision_after) "
        "VALUES (?, 'other', 'edit', 'held', 2)",
        [GOLDFISH],
    )
    conflicted, real_sleep = threading.Event(), sql_db.time.sleep

    def sleep_and_signal(seconds):
        conflicted.set()
        real_sleep(seconds)

    monkeypatch.setattr(sql_db.time, "sleep", sleep_and_signal)
    results, barrier = {}, threading.Barrier(1)
    thread = threading.Thread(target=_edit_in_thread, args=(desc_con, results, barrier, "mine", 1))
    thread.start()
    assert conflicted.wait(timeout=30), "the editor never hit the write conflict"
    other.execute("COMMIT")
    thread.join(timeout=60)
    refused = results["mine"]
    assert isinstance(refused, desc.DescriptionConflict), refused
    assert (refused.revision, refused.their_text, refused.their_actor) == (2, "held", "other")
    history = desc.list_description_history(desc_con, GOLDFISH)
    assert history["text_after"].to_list()[0] == "held"
    assert desc.get_active_description(desc_con, GOLDFISH)["text"] == "held"


def _write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def _wiki_count(con) -> int:
    return _count(con, "descriptions", "source = 'wikipedia'")


def test_wikipedia_csv_import_stores_valid_rows_and_reports_the_rest(desc_con, tmp_path):
    path = _write(
        tmp_path,
        "wiki.csv",
        "wnid,text\n"
        f'{TENCH},"The tench, or doctor fish, is a fish.\nSecond line ""quoted""."\n'
        "n99999999,Not a class.\n"
        f"{GOLDFISH},   \n"
        f"{SHARK},{HOSTILE.replace(chr(10), ' ').replace(chr(13), ' ').replace(',', ';')}\n"
        f"{TENCH},duplicate\n"
        f"{PAJAMA},too,many\n"
        f"n01491361,{'z' * 20_001}\n",
    )
    report = desc.import_wikipedia_file(desc_con, path)
    assert report.stored and report.n_records == 7 and report.n_inserted == 2
    assert report.unknown_wnids == ({"position": "row 2 (line 4)", "wnid": "n99999999"},)
    problems = {(p["position"], p["field"]) for p in report.problems}
    assert problems == {
        ("row 3 (line 5)", "text"),
        ("row 5 (line 7)", "wnid"),
        ("row 6 (line 8)", "record"),
        ("row 7 (line 9)", "text"),
    }
    reasons = " ".join(p["reason"] for p in report.problems)
    assert "empty" in reasons and "duplicate of row 1 (line 2)" in reasons and "20,000" in reasons
    tench = desc.list_description_candidates(desc_con, TENCH).filter(source="wikipedia")
    assert tench["text"].item() == 'The tench, or doctor fish, is a fish.\nSecond line "quoted".'
    assert _wiki_count(desc_con) == 2
    run = desc_con.execute(
        "SELECT source, n_records, n_invalid, n_unknown_wnid, report_json FROM ingest_runs"
    ).fetchall()
    assert run[0][:4] == ("wikipedia", 7, 4, 1)
    assert json.loads(run[0][4])["unknown_wnids"][0]["wnid"] == "n99999999"
    again = desc.import_wikipedia_file(desc_con, path)
    assert (again.n_inserted, again.n_updated, again.n_unchanged) == (0, 0, 2)
    desc.pick_description(desc_con, TENCH, source="wikipedia", actor="ann")
    assert desc.get_active_description(desc_con, TENCH)["source"] == "wikipedia"


JSON_LIST = [{"wnid": TENCH, "text": "T."}, {"wnid": GOLDFISH, "summary": "G."}]
JSON_LINES = f'{{"wnid": "{TENCH}", "text": "T."}}\n\n{{"wnid": "{GOLDFISH}", "text": "G."}}\n'


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("list.json", json.dumps(JSON_LIST)),
        ("map.json", json.dumps({TENCH: "T.", GOLDFISH: {"text": "G."}})),
        ("lines.jsonl", JSON_LINES),
        ("bom-and-aliases.csv", f"\ufeffWNID,Summary\n{TENCH},T.\n{GOLDFISH},G.\n"),
    ],
)
def test_wikipedia_import_accepts_json_shapes_and_csv_aliases(desc_con, tmp_path, name, content):
    report = desc.import_wikipedia_file(desc_con, _write(tmp_path, name, content))
    assert report.stored and report.n_inserted == 2 and not report.problems
    texts = desc_con.execute(
        "SELECT wnid, text FROM descriptions WHERE source = 'wikipedia' ORDER BY wnid"
    ).fetchall()
    assert texts == [(TENCH, "T."), (GOLDFISH, "G.")]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.json", '[{"wnid": "n01440764", "text": "T."},', "not valid JSON: .* line 1 column"),
        ("cols.csv", "id,summary\nn01440764,T.\n", "missing column 'wnid'; found columns: 'id'"),
        ("cols2.csv", "wnid,body\nn01440764,T.\n", "missing column a text column"),
        ("keys.json", '[{"id": "n01440764", "text": "T."}]', "missing key 'wnid'"),
        ("scalar.json", "42", "expected a JSON list"),
        ("bad.jsonl", '{"wnid": "n01440764", "text": "T."}\n{oops\n', "line 2 is not valid JSON"),
        ("latin1.csv", "wnid,text\nn01440764,caf\xe9\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_malformed_wikipedia_files_are_refused_and_store_nothing(
    desc_con, tmp_path, name, content, message
):
    with pytest.raises(ValueError, match=message):
        desc.import_wikipedia_file(desc_con, _write(tmp_path, name, content))
    assert _wiki_count(desc_con) == 0 and _count(desc_con, "ingest_runs") == 0


def test_strict_import_and_all_bad_file_store_nothing(desc_con, tmp_path):
    mixed = _write(tmp_path, "mixed.csv", f"wnid,text\n{TENCH},T.\nn99999999,X.\n")
    report = desc.import_wikipedia_file(desc_con, mixed, strict=True)
    assert not report.stored and report.unknown_wnids and "nothing stored" in report.describe()
    bad = _write(tmp_path, "bad.json", json.dumps([{"wnid": TENCH, "text": ""}, "oops"]))
    report = desc.import_wikipedia_file(desc_con, bad)
    assert not report.stored
    assert [p["reason"] for p in report.problems] == [
        "A description cannot be empty or only whitespace.",
        "is a str, not an object",
    ]
    assert _wiki_count(desc_con) == 0 and _count(desc_con, "ingest_runs") == 0
    with pytest.raises(ValueError, match="No such file"):
        desc.import_wikipedia_file(desc_con, tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="not imported from files"):
        desc.import_description_content(desc_con, b"wnid,text\n", file_name="x.csv", source="gpt")


def test_cli_set_history_revert_import_and_use_source(desc_con, db_path, tmp_path, capsys):
    base = ["--db", str(db_path), "--actor", "cli-user"]
    assert workbench(["descriptions", "set", TENCH, "--text", "From the CLI.", *base]) == 0
    assert "saved as revision 1" in capsys.readouterr().out
    assert workbench(["descriptions", "history", TENCH, "--diff", *base]) == 0
    out = capsys.readouterr().out
    assert "cli-user  edit  - -> manual" in out and "+From the CLI." in out
    event_id = desc.list_description_history(desc_con, TENCH)["event_id"][0]
    assert workbench(["descriptions", "revert", str(event_id), *base]) == 0
    assert desc.get_active_description(desc_con, TENCH) is None
    assert workbench(["descriptions", "revert", "999999", *base]) == 2
    assert "No description event with id 999999" in capsys.readouterr().err
    wiki = _write(tmp_path, "w.csv", f"wnid,text\n{TENCH},T.\nn99999999,X.\n")
    assert workbench(["descriptions", "import-wikipedia", str(wiki), *base]) == 0
    assert "unknown wnid 'n99999999' at row 2 (line 3)" in capsys.readouterr().out
    assert workbench(["descriptions", "use-source", "wikipedia", *base]) == 0
    assert "Set 1 class description(s)" in capsys.readouterr().out
    assert desc.get_active_description(desc_con, TENCH)["updated_by"] == "cli-user"


def test_actor_names_are_recorded_trimmed(desc_con):
    edited = desc.update_active_description(desc_con, TENCH, text="A fish.", actor="  ann \t")
    desc.revert_description_event(desc_con, edited.event_id, actor="\n bob ")
    history = desc.list_description_history(desc_con, TENCH)
    assert history["actor"].to_list() == ["bob", "ann"]
    desc.pick_description(desc_con, GOLDFISH, source="wordnet", actor=" cyd ")
    assert desc.get_active_description(desc_con, GOLDFISH)["updated_by"] == "cyd"
