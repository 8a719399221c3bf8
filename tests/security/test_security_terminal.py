"""Issue 23, finding 12: terminal injection through the CLI. A curator name or a description
holding ANSI/OSC escapes was printed raw by `descriptions history/show` (it set the terminal's
title, cleared the screen, forged a history line). Every command's output now escapes
terminal controls in one place (`cli.common.with_safe_output`), and one-line fields escape
line breaks too."""

from __future__ import annotations

from cli.common import escape_terminal, one_line, print_progress
from cli.main import main
from curation import descriptions as desc
from db import jobs as job_db

WNID = "n01443537"
TITLE = "\x1b]0;pwned\x07"  # OSC: sets the terminal's title
CLEAR = "\x1b[2J\x1b[H"  # clears the screen
FORGED = "\rEvent 1  rev 1  by admin"  # a carriage return overwrites the line
CONTROLS = ("\x1b", "\x07", "\r", "\u202e", "\x9b")


def _assert_no_controls(text: str) -> None:
    for control in CONTROLS:
        assert control not in text, repr(control)


def test_description_history_and_show_print_no_terminal_controls(catalog_con, db_path, capsys):
    desc.update_active_description(
        catalog_con, WNID, text=f"goldfish{CLEAR}{TITLE}\u202eevil", actor=f"ana{FORGED}\nfake"
    )
    catalog_con.close()
    assert main(["descriptions", "history", WNID, "--diff", "--db", str(db_path)]) == 0
    assert main(["descriptions", "show", WNID, "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    _assert_no_controls(out)
    assert "\\x1b]0;pwned\\x07" in out and "\\r" in out  # shown, as escapes
    history_lines = [line for line in out.splitlines() if line.startswith("event ")]
    assert len(history_lines) == 1 and "ana\\rEvent 1" in history_lines[0]
    assert "\\nfake" in history_lines[0]  # the name cannot start a line of its own


def test_jobs_list_prints_no_terminal_controls(con, db_path, capsys):
    job_id = job_db.insert_job(con, kind="noop", spec={})
    job_db.update_job_progress(con, job_id, 0.5, f"step{CLEAR}{TITLE}")
    con.close()
    assert main(["jobs", "list", "--db", str(db_path)]) == 0
    _assert_no_controls(capsys.readouterr().out)


def test_escapes_and_the_progress_bar(capsys):
    assert escape_terminal("a\tb\nc\x1b[31m\x9b") == "a\tb\nc\\x1b[31m\\x9b"
    assert one_line("a\nb\u2028c") == "a\\nb\\u2028c"
    assert escape_terminal("Ünïcødé 名前 ✓") == "Ünïcødé 名前 ✓"
    print_progress(0.5, "half")  # the bar itself still redraws its line
    assert capsys.readouterr().err.startswith("\r[")
