"""Caption files and caption text under hostile input (issue 10).

Finding 8: a truncated JSON was reported "at byte 4 in record/value 4" for a break at byte 883
(DuckDB counts the byte within the record, and its value number is the index plus 2), and a
directory given as the caption file was reported "not found". Now the message gives the byte
offset in the whole file and the 0-based record index, and names a directory as one.

What already held and must stay true: hostile caption text is stored verbatim and found
literally; SQL and LIKE metacharacters in a search are plain characters; concurrent edits of
one description lose nothing; an import killed with SIGKILL leaves the captions unchanged.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cli.main import main as workbench
from curation import descriptions as desc
from curation.captions import ingest_caption_file
from db import captions as caption_db
from db.connect import connect
from db.sql import fetch_value
from tests.conftest import REPO_ROOT

TENCH, GOLDFISH = "n01440764", "n01443537"


def _records(n: int, wnid: str = TENCH) -> list[dict]:
    return [
        {
            "filename": f"{wnid}_{i}.JPEG",
            "wnid": wnid,
            "title": f"tench photo {i}",
            "description": "a green fish caught in a lake",
            "tags": ["fish", "lake"],
        }
        for i in range(n)
    ]


def _record_starts(text: str, records: list[dict]) -> list[int]:
    """Byte offset of each record's '{' in `text` (json.dumps output, ASCII)."""
    starts, position = [], 0
    for record in records:
        position = text.index(json.dumps(record), position)
        starts.append(position)
        position += 1
    return starts


def test_truncated_json_is_reported_at_its_byte_offset_in_the_file_and_record(
    catalog_con, tmp_path, capsys
):
    records = _records(20)
    text = json.dumps(records)
    cut = 883
    path = tmp_path / "truncated.json"
    path.write_bytes(text[:cut].encode())
    record = max(i for i, start in enumerate(_record_starts(text, records)) if start < cut)
    with pytest.raises(ValueError) as info:
        ingest_caption_file(catalog_con, path)
    message = str(info.value)
    assert f"at byte {cut} " in message and f"(record {record}, counting from 0)" in message
    assert str(path) in message and "\n" not in message
    catalog_con.close()
    db = tmp_path / "workbench.duckdb"
    assert workbench(["ingest-captions", str(path), "--db", str(db), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"at byte {cut} " in err[0], err


def test_a_broken_record_in_the_middle_is_reported_at_its_byte_and_index(catalog_con, tmp_path):
    records = _records(12)
    text = json.dumps(records)
    starts = _record_starts(text, records)
    broken = 7
    position = text.index('"title"', starts[broken]) + len('"title": ')
    path = tmp_path / "broken.json"
    path.write_bytes((text[:position] + "nope" + text[position + 1 :]).encode())
    with pytest.raises(ValueError) as info:
        ingest_caption_file(catalog_con, path)
    assert f"at byte {position} (record {broken}, counting from 0)" in str(info.value)


def test_the_offset_counts_bytes_not_characters_and_includes_the_bom(catalog_con, tmp_path):
    records = _records(3)
    records[0]["title"] = "Fisch über dem Schloß 🐟"  # multi-byte UTF-8 before the break
    text = json.dumps(records, ensure_ascii=False)
    data = b"\xef\xbb\xbf" + text.encode()
    path = tmp_path / "bom.json"
    path.write_bytes(data[:-30])
    with pytest.raises(ValueError) as info:
        ingest_caption_file(catalog_con, path)
    assert f"at byte {len(data) - 30} (record 2, counting from 0)" in str(info.value)


def test_a_directory_given_as_the_caption_file_is_named_as_a_directory(catalog_con, tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        ingest_caption_file(catalog_con, tmp_path)


def test_cli_says_a_directory_is_a_directory_with_exit_code_2(tmp_path, capsys):
    db = tmp_path / "workbench.duckdb"
    assert (
        workbench(["ingest-captions", str(tmp_path), "--db", str(db), "--create", "--quiet"]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a directory" in err[0] and "not found" not in err[0], err


HOSTILE_TEXTS = (
    "'; DROP TABLE captions; --",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "![tracker](http://127.0.0.1:9/x.png)",
    "[link](javascript:alert(3)) **bold** # heading",
    "$x^2$ :material/home: :smile:",
    "\u202eevil\u202c right-to-left override",
    "tabs\tand\r\ncarriage returns",
    "\x1b[31mterminal colour\x1b[0m",
    "{{7*7}} ${7*7} %s %(x)s",
)


def test_hostile_caption_text_is_stored_verbatim_and_found_literally(catalog_con, tmp_path):
    records = [
        {
            "filename": f"{TENCH}_{i}.JPEG",
            "wnid": TENCH,
            "title": text,
            "description": text,
            "tags": [text],
        }
        for i, text in enumerate(HOSTILE_TEXTS)
    ]
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    report = ingest_caption_file(catalog_con, path)
    assert report["n_inserted"] == len(HOSTILE_TEXTS) and report["n_invalid"] == 0
    for i, text in enumerate(HOSTILE_TEXTS):
        frame, total = caption_db.list_captions(catalog_con, query=text)
        assert total == 1, text
        row = frame.row(0, named=True)
        assert (row["filename"], row["title"], row["description"]) == (
            f"{TENCH}_{i}.JPEG",
            text,
            text,
        )
        assert list(row["tags"]) == [text]
    assert int(fetch_value(catalog_con, "SELECT count(*) FROM classes")) == 1000


# The search strings of the hostile-input pass: SQL, LIKE, regex, glob and escape syntax.
METACHARACTER_QUERIES = (
    "%",
    "_",
    "%%",
    "a%b",
    "a_b",
    "\\",
    "\\%",
    "\\_",
    "'",
    "''",
    '"',
    "' OR '1'='1",
    "'; DROP TABLE captions; --",
    "--",
    "/*",
    ";",
    "[a-z]",
    "[!a]",
    "*",
    "?",
    ".*",
    "^tench$",
    "$1",
    "ESCAPE '\\'",
    "%' --",
    "NULL",
    "\x00",
)
CORPUS = (
    "50% off",
    "a%b and a_b",
    "axb aXXb",
    "back\\slash \\% \\_",
    "it's O'Brien's '' quote",
    'say "hi"',
    "' OR '1'='1 is an attack",
    "-- comment /* block */ ;",
    "[a-z] [!a] * ? .* ^tench$ $1",
    "ESCAPE '\\' %' --",
    "NULL is a word",
    "plain tench photo",
)


@pytest.fixture
def metacharacter_con(catalog_con, tmp_path):
    records = [
        {"filename": f"{TENCH}_{i}.JPEG", "wnid": TENCH, "title": t, "description": "", "tags": []}
        for i, t in enumerate(CORPUS)
    ]
    path = tmp_path / "corpus.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    ingest_caption_file(catalog_con, path)
    return catalog_con


@pytest.mark.parametrize("query", METACHARACTER_QUERIES, ids=repr)
def test_sql_and_like_metacharacters_in_a_search_match_exact_substrings(metacharacter_con, query):
    frame, total = caption_db.list_captions(metacharacter_con, query=query, limit=100)
    expected = sorted(t for t in CORPUS if query.lower() in t.lower())
    assert sorted(frame["title"].to_list()) == expected and total == len(expected)
    assert caption_db.list_captions(metacharacter_con, limit=100)[1] == len(CORPUS)


def _edit_many(con, barrier, actor: str, n_edits: int, errors: list) -> None:
    cursor = con.cursor()
    try:
        barrier.wait(timeout=30)
        for i in range(n_edits):
            desc.update_active_description(cursor, GOLDFISH, text=f"{actor} edit {i}", actor=actor)
    except Exception as exc:  # reported to the main thread
        errors.append(exc)
    finally:
        cursor.close()


def test_concurrent_editors_of_one_description_lose_no_edit(catalog_con):
    desc.import_builtin_sources(catalog_con)
    n_threads, n_edits = 6, 10
    barrier, errors = threading.Barrier(n_threads), []
    threads = [
        threading.Thread(
            target=_edit_many, args=(catalog_con, barrier, f"editor{t}", n_edits, errors)
        )
        for t in range(n_threads)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    history = desc.list_description_history(catalog_con, GOLDFISH).reverse()  # oldest first
    texts = history["text_after"].to_list()
    assert sorted(texts) == sorted(
        f"editor{t} edit {i}" for t in range(n_threads) for i in range(n_edits)
    )
    assert history["revision_after"].to_list() == list(range(1, n_threads * n_edits + 1))
    assert history["text_before"].to_list()[1:] == texts[:-1]  # each edit saw the one before
    assert desc.get_active_description(catalog_con, GOLDFISH)["text"] == texts[-1]


def _write_big_caption_file(path: Path, n_records: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("[")
        for i in range(n_records):
            record = {
                "filename": f"{TENCH}_{i}.JPEG",
                "wnid": TENCH,
                "title": f"photo number {i} of a tench",
                "description": "a green freshwater fish " * 4,
                "tags": ["fish", "lake", f"tag{i % 97}"],
            }
            handle.write(("," if i else "") + json.dumps(record))
        handle.write("]")
    return path


def test_an_import_killed_with_sigkill_leaves_the_captions_unchanged(catalog_con, tmp_path):
    small = tmp_path / "small.json"
    small.write_text(json.dumps(_records(3, wnid=GOLDFISH)), encoding="utf-8")
    ingest_caption_file(catalog_con, small)
    count_sql, runs_sql = "SELECT count(*) FROM captions", "SELECT count(*) FROM ingest_runs"
    before = (fetch_value(catalog_con, count_sql), fetch_value(catalog_con, runs_sql))
    db_path = Path(catalog_con.execute("PRAGMA database_list").fetchall()[0][2])
    catalog_con.close()
    big = _write_big_caption_file(tmp_path / "big.json", 200_000)
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "ingest-captions", str(big), "--db", str(db_path)],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    started = time.monotonic()
    seen = _read_until(process, b"validating", timeout_s=120)
    parse_s = time.monotonic() - started  # the write phase takes about as long as parsing
    seen = _read_until(process, b"writing captions", timeout_s=120, seen=seen)
    time.sleep(0.3 * parse_s)  # into the write phase, on a slow machine or a fast one
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert b"writing captions" in seen, seen[-500:]
    assert process.returncode == -signal.SIGKILL, "the import finished before the kill"
    con = connect(db_path)
    try:
        after = (fetch_value(con, count_sql), fetch_value(con, runs_sql))
    finally:
        con.close()
    assert after == before


def _read_until(
    process: subprocess.Popen, marker: bytes, *, timeout_s: float, seen: bytes = b""
) -> bytes:
    """stderr of `process` (after `seen`) until `marker` appears (a progress message)."""
    deadline = time.monotonic() + timeout_s
    fd = process.stderr.fileno()
    os.set_blocking(fd, False)
    while marker not in seen and time.monotonic() < deadline and process.poll() is None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.005)
            continue
        seen += chunk or b""
    return seen
