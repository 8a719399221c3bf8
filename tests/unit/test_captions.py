"""Caption ingest (ImageNet-Captions JSON and ImageNet-X), its validation report, search and
pagination, the CLI and the background job, on real DuckDB files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from cli.captions import add_parser
from cli.main import SUBCOMMAND_MODULES
from curation.captions import (
    CAPTION_SOURCES,
    CaptionLimits,
    check_caption_source_name,
    format_ingest_report,
    ingest_caption_file,
)
from curation.imagenet_x import ingest_imagenet_x
from db import captions as caption_db
from db import jobs as job_db
from db.classes import list_sources
from db.sql import fetch_frame, fetch_value
from jobs.worker import run_queued_jobs, submit_job

GOOD = {
    "filename": "n01440764_1.JPEG",
    "wnid": "n01440764",
    "title": "a tench",
    "description": "caught in a lake",
    "tags": ["fish", "Lake"],
}


def _write(path: Path, records) -> Path:
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


def _rows(con) -> list[tuple]:
    return con.execute(
        "SELECT source, filename, wnid, title, description, tags FROM captions "
        "ORDER BY source, filename"
    ).fetchall()


def _n_runs(con) -> int:
    return int(fetch_value(con, "SELECT count(*) FROM ingest_runs"))


@pytest.fixture
def sample_file(shared_dir) -> Path:
    return shared_dir / "data" / "imagenet_captions" / "sample_records.json"


def test_ingest_real_records_stores_them_exactly(catalog_con, sample_file):
    report = ingest_caption_file(catalog_con, sample_file)
    assert (report["n_records"], report["n_inserted"], report["n_invalid"]) == (3, 3, 0)
    expected = json.loads(sample_file.read_text(encoding="utf-8"))
    stored = {r[1]: r for r in _rows(catalog_con)}
    for record in expected:
        row = stored[record["filename"]]
        assert row == (
            "imagenet-captions",
            record["filename"],
            record["wnid"],
            record["title"],
            record["description"],
            record["tags"],
        )
    sources = list_sources(catalog_con, kind="caption").row(0, named=True)
    assert sources["source"] == "imagenet-captions" and "Flickr" in sources["license"]
    assert "Fang et al. 2022" in sources["attribution"]
    run = caption_db.get_latest_ingest_run(catalog_con)
    assert run["n_inserted"] == 3 and run["report"]["sha256"] == report["sha256"]


def test_reingest_changes_nothing_and_a_changed_record_is_updated(
    catalog_con, sample_file, tmp_path
):
    ingest_caption_file(catalog_con, sample_file)
    before = fetch_frame(catalog_con, "SELECT * FROM captions ORDER BY caption_id")
    again = ingest_caption_file(catalog_con, sample_file)
    assert (again["n_inserted"], again["n_updated"], again["n_unchanged"]) == (0, 0, 3)
    assert fetch_frame(catalog_con, "SELECT * FROM captions ORDER BY caption_id").equals(before)
    records = json.loads(sample_file.read_text(encoding="utf-8"))
    records[1]["title"] = "cuirasses (edited)"
    changed = ingest_caption_file(catalog_con, _write(tmp_path / "changed.json", records))
    assert (changed["n_inserted"], changed["n_updated"], changed["n_unchanged"]) == (0, 1, 2)
    titles = caption_db.list_captions(catalog_con, query="(edited)")[0]["title"].to_list()
    assert titles == ["cuirasses (edited)"]
    assert _n_runs(catalog_con) == 3


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('[{"filename": "a", "wnid": "n01440764"},\n {"filename": ', "Malformed JSON"),
        ('[{"a": 1}, garbage]', "byte"),
        ('{"filename": "a.JPEG"}', "starts with '{'"),
        ("hello", "starts with 'h'"),
        ("", "is empty"),
        ("[1, 2] [3]", "Malformed JSON"),
        (b'["\xff"]', "UTF-8"),
        (b"[\xff\xfe]", "UTF-16"),
    ],
)
def test_bad_files_raise_naming_the_file_and_write_nothing(
    catalog_con, sample_file, tmp_path, content, expected
):
    ingest_caption_file(catalog_con, sample_file)
    rows, runs = _rows(catalog_con), _n_runs(catalog_con)
    path = tmp_path / "bad.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError) as info:
        ingest_caption_file(catalog_con, path)
    assert str(path) in str(info.value) and expected in str(info.value)
    assert _rows(catalog_con) == rows and _n_runs(catalog_con) == runs


def test_missing_file_and_empty_catalog_and_bad_source(con, catalog_con, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        ingest_caption_file(catalog_con, tmp_path / "nope.json")
    for bad in ("imagenet-x", "Bad Name", "", "../x"):
        with pytest.raises(ValueError):
            check_caption_source_name(catalog_con, bad)
    assert check_caption_source_name(catalog_con, "my-captions") == "my-captions"


def test_empty_catalog_is_refused(con, tmp_path):
    with pytest.raises(ValueError, match="catalog is empty"):
        ingest_caption_file(con, _write(tmp_path / "a.json", [GOOD]))


def _problems(report: dict, key: str = "invalid") -> dict[tuple[str, str], int]:
    return {(c["field"], c["reason"]): c["n"] for c in report[key]["counts"]}


def _example_indexes(report: dict, field: str, key: str = "invalid") -> set[int]:
    return {e["index"] for e in report[key]["examples"] if e["field"] == field}


def test_malformed_records_are_reported_with_index_field_and_reason(catalog_con, tmp_path):
    records = [
        GOOD,  # 0 ok
        "just a string",  # 1 not an object
        {**GOOD, "filename": 17},  # 2 filename number
        {k: v for k, v in GOOD.items() if k != "wnid"} | {"filename": "b"},  # 3 wnid missing
        {**GOOD, "filename": "c", "title": {"x": 1}},  # 4 title object
        {**GOOD, "filename": "d", "tags": "fish"},  # 5 tags not a list
        {**GOOD, "filename": "e", "tags": ["ok", 3]},  # 6 tag element number
        {**GOOD, "filename": "f", "wnid": "n99999999"},  # 7 unknown wnid
        {**GOOD, "filename": "g", "wnid": "n99999999"},  # 8 unknown wnid
        {**GOOD, "filename": ""},  # 9 empty filename
        {**GOOD},  # 10 duplicate of 0
        {**GOOD, "filename": "h", "title": None, "description": None, "tags": None},  # 11 nulls
        {"filename": "i", "wnid": "n01440764"},  # 12 optional fields missing
        {**GOOD, "filename": "j\nk"},  # 13 control character
        {**GOOD, "filename": "   "},  # 14 whitespace only: empty
    ]
    report = ingest_caption_file(catalog_con, _write(tmp_path / "mixed.json", records))
    invalid = _problems(report)
    assert invalid[("(record)", "not an object (got string)")] == 1
    assert invalid[("filename", "not a string (got number)")] == 1
    assert invalid[("wnid", "missing")] == 1
    assert invalid[("title", "not a string (got object)")] == 1
    assert invalid[("tags", "not a list (got string)")] == 1
    assert invalid[("tags", "an element is not a string")] == 1
    assert invalid[("filename", "empty")] == 2
    assert _example_indexes(report, "filename") >= {9, 14}
    assert invalid[("filename", "duplicate of an earlier record in this file")] == 1
    assert invalid[("filename", "contains control characters")] == 1
    assert _example_indexes(report, "tags") == {5, 6}
    assert _example_indexes(report, "(record)") == {1}
    tag_example = next(e for e in report["invalid"]["examples"] if e["index"] == 6)
    assert tag_example["detail"] == "at tags[1]" and tag_example["filename"] == "e"
    assert report["n_invalid"] == 10
    assert report["unknown_wnids"]["counts"] == [{"wnid": "n99999999", "n": 2, "first_index": 7}]
    assert report["n_unknown_wnid"] == 2
    assert report["n_inserted"] == 3  # records 0, 11 and 12
    repaired = _problems(report, "repaired")
    assert repaired[("title", "null: stored as empty text")] == 1
    assert repaired[("tags", "missing: stored as []")] == 1
    stored = {r[1]: r for r in _rows(catalog_con)}
    assert set(stored) == {"n01440764_1.JPEG", "h", "i"}
    assert stored["h"][3:] == ("", "", []) and stored["i"][3:] == ("", "", [])
    text = format_ingest_report(report)
    assert "index 6: tags: an element is not a string (at tags[1]) filename='e'" in text
    assert "'n99999999'" in text


def test_huge_and_hostile_text_is_capped_and_nul_stripped_never_evaluated(catalog_con, tmp_path):
    limits = CaptionLimits(max_title=50, max_description=100, max_tag=10, max_tags=3)
    hostile = "<img src=x onerror=alert(1)> **bold** {{7*7}} ${{7*7}} '; DROP TABLE captions; --"
    records = [
        {
            **GOOD,
            "title": "x" * 5_000,
            "description": "y" * 17_000_000,  # above DuckDB's default 16 MiB per record
            "tags": ["z" * 500, "a", "b", "c", "d"],
        },
        {
            **GOOD,
            "filename": "n01440764_2.JPEG",
            "title": "nul\u0000inside",
            "description": hostile,
            "tags": ["t\u0000ag"],
        },
    ]
    report = ingest_caption_file(
        catalog_con, _write(tmp_path / "huge.json", records), limits=limits
    )
    repaired = _problems(report, "repaired")
    assert repaired[("title", "longer than 50 characters: truncated")] == 1
    assert repaired[("description", "longer than 100 characters: truncated")] == 1
    assert repaired[("tags", "more than 3 tags: extra tags dropped")] == 1
    assert repaired[("tags", "a tag longer than 10 characters: truncated")] == 1
    assert repaired[("title", "contains NUL bytes: removed")] == 1
    assert repaired[("tags", "contains NUL bytes: removed")] == 1
    first = caption_db.get_caption(catalog_con, 1)
    assert (len(first["title"]), len(first["description"])) == (50, 100)
    assert first["tags"] == ["z" * 10, "a", "b"]
    second = caption_db.get_caption(catalog_con, 2)
    assert second["title"] == "nulinside" and second["tags"] == ["tag"]
    assert second["description"] == hostile  # stored verbatim, the table is still there
    assert int(fetch_value(catalog_con, "SELECT count(*) FROM captions")) == 2


def test_failure_mid_ingest_rolls_back_everything(catalog_con, sample_file, tmp_path):
    ingest_caption_file(catalog_con, sample_file)
    before, runs = _rows(catalog_con), _n_runs(catalog_con)
    records = json.loads(sample_file.read_text(encoding="utf-8"))
    records[0]["title"] = "changed"
    records.append({**GOOD, "filename": "new.JPEG"})

    def killed_while_writing(fraction: float, message: str = "") -> None:
        if fraction >= 0.95:  # after the captions were written, before COMMIT
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        ingest_caption_file(
            catalog_con, _write(tmp_path / "next.json", records), progress=killed_while_writing
        )
    assert _rows(catalog_con) == before and _n_runs(catalog_con) == runs
    # The connection is usable afterwards, and the staged tables are gone.
    assert ingest_caption_file(catalog_con, sample_file)["n_unchanged"] == 3


def test_imagenet_x_ingest_counts_mapping_and_idempotence(catalog_con):
    report = ingest_imagenet_x(catalog_con)
    assert (report["n_records"], report["n_inserted"], report["n_skipped"]) == (60_101, 60_101, 0)
    per_source = caption_db.list_caption_source_counts(catalog_con).row(0, named=True)
    assert per_source["source"] == "imagenet-x" and per_source["n_classes"] == 999
    assert "CC BY-NC 4.0" in per_source["license"] and "non-commercial" in per_source["license"]
    frame, total = caption_db.list_captions(catalog_con, query="image of ladle on top of white")
    ladle = frame.filter(frame["filename"] == "n03633091_15528.JPEG").row(0, named=True)
    assert (ladle["wnid"], ladle["title"], ladle["description"], ladle["tags"]) == (
        "n03633091",
        "image of ladle on top of white tiles floor",
        "",
        ["white tiles"],
    )
    again = ingest_imagenet_x(catalog_con)
    assert (again["n_inserted"], again["n_updated"], again["n_unchanged"]) == (0, 0, 60_101)


def test_imagenet_x_limit_and_split_options(catalog_con):
    report = ingest_imagenet_x(catalog_con, splits=("train",), limit=25)
    assert report["n_inserted"] == 25
    with pytest.raises(ValueError, match="splits"):
        ingest_imagenet_x(catalog_con, splits=("test",))
    with pytest.raises(ValueError, match="limit"):
        ingest_imagenet_x(catalog_con, limit=0)


@pytest.fixture
def searchable(catalog_con, tmp_path):
    records = [
        {
            **GOOD,
            "filename": f"n01440764_{i}.JPEG",
            "title": f"Tench number {i}",
            "description": "50% off_sale" if i == 7 else "",
            "tags": ["Ümlaut"] if i == 3 else [],
        }
        for i in range(120)
    ] + [
        {
            **GOOD,
            "filename": "n01443537_1.JPEG",
            "wnid": "n01443537",
            "title": "goldfish",
            "description": "a TENCH friend",
            "tags": [],
        }
    ]
    ingest_caption_file(catalog_con, _write(tmp_path / "s.json", records))
    ingest_caption_file(catalog_con, _write(tmp_path / "t.json", records[:5]), source="other")
    return catalog_con


def test_search_is_case_insensitive_over_title_description_and_tags(searchable):
    assert caption_db.list_captions(searchable, query="tench", source="imagenet-captions")[1] == 121
    assert caption_db.list_captions(searchable, query="TeNcH friend")[1] == 1
    assert caption_db.list_captions(searchable, query="ümlaut")[1] == 2  # both sources, in tags
    assert caption_db.list_captions(searchable, query="50% off_")[1] == 1  # literal, not LIKE
    assert caption_db.list_captions(searchable, query="%")[1] == 1
    assert caption_db.list_captions(searchable, query="number 11", wnid="n01440764")[1] == 11
    assert caption_db.list_captions(searchable, query="no such text")[1] == 0
    assert caption_db.list_captions(searchable, wnid="n01443537")[1] == 1


def test_rows_written_without_search_text_are_still_found(searchable):
    searchable.execute(
        "INSERT INTO captions (source, filename, wnid, title, description, tags) "
        "VALUES ('other', 'z.JPEG', 'n01440764', 'Written Elsewhere', '', ['Zebra'])"
    )
    assert caption_db.list_captions(searchable, query="written elsewhere")[1] == 1
    assert caption_db.list_captions(searchable, query="zebra")[1] == 1


def test_pagination_covers_every_match_once(searchable):
    seen, total = [], None
    for page in range(4):
        frame, total = caption_db.list_captions(
            searchable, source="imagenet-captions", limit=50, offset=50 * page
        )
        seen += frame["caption_id"].to_list()
    assert total == 121 and len(seen) == 121 and seen == sorted(set(seen))
    empty, total = caption_db.list_captions(searchable, source="other", offset=500)
    assert empty.is_empty() and total == 5
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}):
        with pytest.raises(ValueError):
            caption_db.list_captions(searchable, **bad)


def test_class_and_source_counts(searchable):
    counts = caption_db.list_caption_class_counts(searchable)
    tench = counts.filter(
        (counts["wnid"] == "n01440764") & (counts["source"] == "imagenet-captions")
    )
    row = tench.row(0, named=True)
    assert (
        row["name"],
        row["n_captions"],
        row["n_title"],
        row["n_description"],
        row["n_tags"],
    ) == ("tench", 120, 120, 1, 1)
    assert caption_db.list_caption_class_counts(searchable, "other")["n_captions"].sum() == 5
    sources = caption_db.list_caption_source_counts(searchable)
    assert dict(zip(sources["source"], sources["n_captions"], strict=True)) == {
        "imagenet-captions": 121,
        "other": 5,
    }
    assert sources.filter(sources["source"] == "other")["license"][0].startswith("Unknown")


def _parse_cli(argv: list[str]) -> argparse.Namespace:
    """Parse with only this subcommand (`cli.main` would import every subcommand's module)."""
    parser = argparse.ArgumentParser(prog="workbench")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli_ingest_prints_report_and_fails_cleanly(
    catalog_con, db_path, sample_file, tmp_path, capsys
):
    assert "cli.captions" in SUBCOMMAND_MODULES
    catalog_con.close()
    args = _parse_cli(["ingest-captions", str(sample_file), "--db", str(db_path), "--quiet"])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert "records 3: inserted 3, updated 0, unchanged 0" in out
    bad = tmp_path / "x.json"
    bad.write_text('{"not": "a list"}')
    args = _parse_cli(["ingest-captions", str(bad), "--db", str(db_path), "--source", "mine"])
    with pytest.raises(ValueError, match="not a JSON list"):  # cli.main prints it, exit code 2
        args.handler(args)


def test_ingest_job_runs_and_removes_a_temporary_upload(catalog_con, sample_file, tmp_path):
    upload = tmp_path / "upload.json"
    upload.write_bytes(sample_file.read_bytes())
    job_id = submit_job(
        catalog_con,
        kind="ingest_captions",
        spec={
            "path": str(upload),
            "source": "imagenet-captions",
            "display_name": "mine.json",
            "remove_file_after": True,
        },
    )
    assert run_queued_jobs(catalog_con) == 1
    job = job_db.get_job(catalog_con, job_id)
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["n_inserted"] == 3 and job["result"]["file"] == "mine.json"
    assert not upload.exists()
    assert caption_db.get_latest_ingest_run(catalog_con)["path"] == "mine.json"


def test_failed_job_keeps_the_database_unchanged(catalog_con, sample_file, tmp_path):
    ingest_caption_file(catalog_con, sample_file)
    rows = _rows(catalog_con)
    job_id = submit_job(
        catalog_con,
        kind="ingest_captions",
        spec={"path": str(_write(tmp_path / "obj.json", {"a": 1}))},
    )
    run_queued_jobs(catalog_con)
    job = job_db.get_job(catalog_con, job_id)
    assert job["status"] == "failed" and "not a JSON list" in job["error"]
    assert _rows(catalog_con) == rows


def test_known_sources_have_licenses():
    assert set(CAPTION_SOURCES) == {"imagenet-captions", "imagenet-x"}
    assert all(s.license and s.attribution and s.url for s in CAPTION_SOURCES.values())


def test_cancelled_job_writes_nothing_and_removes_the_upload(catalog_con, sample_file, tmp_path):
    upload = tmp_path / "upload.json"
    upload.write_bytes(sample_file.read_bytes())
    job_id = submit_job(
        catalog_con,
        kind="ingest_captions",
        spec={"path": str(upload), "remove_file_after": True},
    )
    # A cancel that arrives once the job runs: its first progress report raises JobCancelled.
    catalog_con.execute("UPDATE jobs SET cancel_requested = true WHERE job_id = ?", [job_id])
    run_queued_jobs(catalog_con)
    assert job_db.get_job(catalog_con, job_id)["status"] == "cancelled"
    assert _rows(catalog_con) == [] and _n_runs(catalog_con) == 0
    assert not upload.exists()
