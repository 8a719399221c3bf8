"""Concurrent sessions on one server: page open and description save, no hang, no lost edit.

For each session count (default 1, 5, 10, 20) a FRESH server (`python -m ui.launch`, the
launcher of `workbench run`) is started on 127.0.0.1 (the first free port of 8620-8629) on
its own temporary copy of the demo database (`workbench build-demo`). Real Streamlit sessions
are Chromium pages (Playwright, one browser, one page per session, all opened at once):
1. page open: every session opens `/descriptions?wnid=<its own class>&curator=bench-<i>` at
   the same moment; seconds from `goto` until the editor is drawn and the script run is done;
2. save: every session types a unique text and clicks "Save description" at the same moment,
   `--rounds` times; seconds from the click until the page shows the saved text;
3. afterwards the database (a copy; the server holds the file) must hold every edit, each by
   its own session's curator on its own class (none lost, none misattributed), and neither the
   pages nor the server log may show an error. A step over `--step-timeout-s` is a hang.
Then, on a fresh server with one page open and left alone, the server's CPU time over
`--idle-s` seconds (from /proc: user + system) gives the cost of an idle open page.

Every loop and wait is bounded; the servers are stopped at the end, whatever happens.

Usage:
    .venv/bin/python benchmarks/bench_sessions.py [--sessions 1,5,10,20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks import run_record  # noqa: E402

PORTS = range(8620, 8630)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TARGETS = {"open_p95_s": 5.0, "save_p95_s": 1.5, "idle_core_share": 0.01}
ERROR_SELECTOR = "[data-testid='stException'], [data-testid='stAlertContentError']"


def free_port() -> int:
    """The first port of 8620-8629 nobody listens on."""
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def copy_database(source: Path, folder: Path) -> Path:
    """A copy of `source` (and its WAL) in `folder`."""
    target = folder / "sessions.duckdb"
    shutil.copy(source, target)
    wal = Path(f"{source}.wal")
    if wal.exists():
        shutil.copy(wal, Path(f"{target}.wal"))
    return target


class Server:
    """`python -m ui.launch` on 127.0.0.1:`port` with its own database and log."""

    def __init__(self, db_path: Path, port: int):
        self.db_path, self.port = db_path, port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = db_path.with_suffix(f".{port}.log")
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ui.launch", "--server.headless", "true"]
            + ["--server.port", str(port), "--server.address", "127.0.0.1"]
            + ["--browser.gatherUsageStats", "false"],
            cwd=REPO_ROOT,
            env={**os.environ, "WORKBENCH_DB": str(db_path), "PYTHONPATH": str(REPO_ROOT)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_until_healthy(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            time.sleep(0.3)
        raise TimeoutError(f"no health answer within {timeout_s} s:\n{self.log_tail()}")

    def is_healthy(self) -> bool:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=5) as answer:
                return answer.status == 200
        return False

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, n_chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n_chars:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)
        self._log.close()


def pick_classes(db_path: Path, count: int) -> list[str]:
    """`count` wnids that have an active description (one per session)."""
    import duckdb

    con = duckdb.connect(str(db_path), read_only=True)
    try:
        rows = con.execute(
            "SELECT wnid FROM active_descriptions ORDER BY wnid LIMIT ?", [count]
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def read_edits(db_path: Path, wnids: list[str]) -> list[tuple[str, str, str]]:
    """(wnid, actor, text_after) of every description event of `wnids`, read from a copy."""
    import duckdb

    with tempfile.TemporaryDirectory() as tmp:
        copy = copy_database(db_path, Path(tmp))
        con = duckdb.connect(str(copy), read_only=True)
        try:
            return con.execute(
                "SELECT wnid, actor, text_after FROM description_events "
                "WHERE list_contains(?, wnid)",
                [wnids],
            ).fetchall()
        finally:
            con.close()


def percentile(values: list[float], q: float) -> float | None:
    """The `q` quantile (0..1) of `values`, linear between ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 3)


async def wait_script_done(page, timeout_ms: float) -> None:
    await page.wait_for_function(
        "() => !document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=timeout_ms
    )


async def open_session(page, url: str, wnid: str, actor: str, timeout_s: float) -> float:
    """Seconds until the description page of `wnid` is drawn and its script run done."""
    started = time.perf_counter()
    await page.goto(f"{url}/descriptions?wnid={wnid}&curator={actor}", timeout=timeout_s * 1000)
    await page.locator(".st-key-desc-edit-text textarea").wait_for(timeout=timeout_s * 1000)
    await page.get_by_text("History", exact=True).wait_for(timeout=timeout_s * 1000)
    await wait_script_done(page, timeout_s * 1000)
    return time.perf_counter() - started


async def save_description(page, text: str, timeout_s: float) -> float:
    """Seconds from the click on Save until the page shows `text` as the active text."""
    editor = page.locator(".st-key-desc-edit-text textarea")
    await editor.fill(text)
    await editor.press("Tab")  # commit the widget value before clicking
    await wait_script_done(page, timeout_s * 1000)
    started = time.perf_counter()
    await page.locator(".st-key-desc-save button").click()
    await page.locator("code", has_text=text).first.wait_for(timeout=timeout_s * 1000)
    return time.perf_counter() - started


async def count_errors(page) -> int:
    return await page.locator(ERROR_SELECTOR).count()


async def run_level(browser, url: str, wnids: list[str], *, rounds: int, timeout_s: float):
    """Open len(wnids) sessions at once, then save `rounds` times in each, all at once."""
    context = await browser.new_context(viewport={"width": 1300, "height": 900})
    pages = [await context.new_page() for _ in wnids]
    actors = [f"bench-s{i}" for i in range(len(wnids))]
    failures, expected = [], []
    try:
        sessions = zip(pages, wnids, actors, strict=True)
        opened = await asyncio.gather(
            *(open_session(p, url, w, a, timeout_s) for p, w, a in sessions),
            return_exceptions=True,
        )
        open_s = [o for o in opened if isinstance(o, float)]
        failures += [f"open: {type(o).__name__}" for o in opened if not isinstance(o, float)]
        save_s = []
        for r in range(rounds if not failures else 0):
            texts = [f"bench session {a} round {r} {uuid.uuid4().hex[:12]}" for a in actors]
            expected += [(w, a, t) for w, a, t in zip(wnids, actors, texts, strict=True)]
            saved = await asyncio.gather(
                *(save_description(p, t, timeout_s) for p, t in zip(pages, texts, strict=True)),
                return_exceptions=True,
            )
            save_s += [s for s in saved if isinstance(s, float)]
            failures += [f"save: {type(s).__name__}" for s in saved if not isinstance(s, float)]
        errors = sum([await count_errors(p) for p in pages])
    finally:
        await context.close()
    return open_s, save_s, failures, errors, expected


def check_edits(db_path: Path, wnids: list[str], expected: list[tuple]) -> tuple[int, int]:
    """(lost, misattributed): expected edits missing, and saved texts under another class
    or curator than the session that typed them."""
    rows = read_edits(db_path, wnids)
    by_text = {text: (wnid, actor) for wnid, actor, text in rows}
    lost = sum(t not in by_text for _, _, t in expected)
    wrong = sum(t in by_text and by_text[t] != (w, a) for w, a, t in expected)
    return lost, wrong


async def measure_level(browser, source: Path, count: int, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db_path = copy_database(source, Path(tmp))
        wnids = pick_classes(db_path, count)
        server = Server(db_path, free_port())
        try:
            server.wait_until_healthy()
            started, cpu_before = time.perf_counter(), server.cpu_seconds()
            open_s, save_s, failures, errors, expected = await asyncio.wait_for(
                run_level(
                    browser, server.url, wnids, rounds=args.rounds, timeout_s=args.step_timeout_s
                ),
                timeout=args.level_timeout_s,
            )
            elapsed = time.perf_counter() - started
            server_cpu_s = server.cpu_seconds() - cpu_before
            healthy = server.is_healthy()
            lost, wrong = check_edits(db_path, wnids, expected)
            tracebacks = server.log_tail(10**7).count("Traceback")
        finally:
            server.stop()
    return {
        "sessions": count,
        "open_p50_s": percentile(open_s, 0.5),
        "open_p95_s": percentile(open_s, 0.95),
        "save_p50_s": percentile(save_s, 0.5),
        "save_p95_s": percentile(save_s, 0.95),
        "n_saves": len(save_s),
        "failures": failures,
        "page_errors": errors,
        "server_tracebacks": tracebacks,
        "server_healthy_after": healthy,
        "lost_edits": lost,
        "misattributed_edits": wrong,
        "wall_s": round(elapsed, 1),
        "server_cpu_s": round(server_cpu_s, 1),
    }


async def measure_idle(browser, source: Path, args) -> dict:
    """Server CPU share while one page is open and nobody touches it."""
    with tempfile.TemporaryDirectory() as tmp:
        db_path = copy_database(source, Path(tmp))
        server = Server(db_path, free_port())
        context = await browser.new_context()
        try:
            server.wait_until_healthy()
            page = await context.new_page()
            shares = {}
            for path in ("/descriptions", "/job_list"):
                await page.goto(f"{server.url}{path}?curator=bench-idle", timeout=60_000)
                await wait_script_done(page, 60_000)
                await asyncio.sleep(3)
                before, t0 = server.cpu_seconds(), time.perf_counter()
                await asyncio.sleep(args.idle_s)
                shares[path] = round(
                    (server.cpu_seconds() - before) / (time.perf_counter() - t0), 4
                )
        finally:
            await context.close()
            server.stop()
    return {"idle_s": args.idle_s, "core_share_by_page": shares}


async def measure(args) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            levels = [await measure_level(browser, args.db, n, args) for n in args.sessions]
            idle = await measure_idle(browser, args.db, args)
        finally:
            await browser.close()
    return {"levels": levels, "idle": idle}


def passes(level: dict) -> bool:
    clean = not (level["failures"] or level["page_errors"] or level["server_tracebacks"])
    intact = not (level["lost_edits"] or level["misattributed_edits"])
    fast = (level["open_p95_s"] or 1e9) <= TARGETS["open_p95_s"] and (
        level["save_p95_s"] or 1e9
    ) <= TARGETS["save_p95_s"]
    return clean and intact and fast and level["server_healthy_after"]


def render_markdown(results: dict) -> str:
    lines = [
        "# Concurrent sessions (Class descriptions page)",
        "",
        f"`{results['command']}` on {results['machine']} ({results['cpu_count']} CPUs), "
        f"load average {results['load_before']} before, {results['load_after']} after "
        f"(`uptime`: {results['uptime_before']}).",
        "",
        "| sessions | page open p50 / p95 (s) | save p50 / p95 (s) | saves | lost / misattributed "
        "| errors | hang | server CPU s / wall s | meets targets |",
        "|---:|---|---|---:|---|---:|---|---|---|",
    ]
    for level in results["levels"]:
        errors = len(level["failures"]) + level["page_errors"] + level["server_tracebacks"]
        lines.append(
            f"| {level['sessions']} | {level['open_p50_s']} / {level['open_p95_s']} "
            f"| {level['save_p50_s']} / {level['save_p95_s']} | {level['n_saves']} "
            f"| {level['lost_edits']} / {level['misattributed_edits']} | {errors} "
            f"| {'no' if level['server_healthy_after'] else 'YES'} "
            f"| {level['server_cpu_s']} / {level['wall_s']} "
            f"| {'yes' if passes(level) else 'no'} |"
        )
    idle = results["idle"]
    shares = ", ".join(f"{p}: {s:.2%}" for p, s in idle["core_share_by_page"].items())
    lines += [
        "",
        f"Idle open page, server CPU over {idle['idle_s']} s: {shares} of one core "
        f"(target <= {TARGETS['idle_core_share']:.0%}).",
        "",
        f"Targets: page open p95 <= {TARGETS['open_p95_s']} s, save p95 <= "
        f"{TARGETS['save_p95_s']} s, no hang, no error, no lost or misattributed edit.",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=REPO_ROOT / "data" / "workbench.duckdb")
    parser.add_argument("--sessions", default="1,5,10,20")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--step-timeout-s", type=float, default=60.0)
    parser.add_argument("--level-timeout-s", type=float, default=600.0)
    parser.add_argument("--idle-s", type=float, default=20.0)
    args = parser.parse_args(argv)
    args.sessions = [int(n) for n in args.sessions.split(",")]
    if not args.db.exists():
        parser.error(f"{args.db} does not exist: run `workbench build-demo` first")
    return args


def main(argv: list[str] | None = None) -> None:
    import platform

    args = parse_args(argv)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    load_before = run_record.read_load_average()
    measured = asyncio.run(measure(args))
    results = {
        "command": run_record.describe_command("bench_sessions.py", argv),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "uptime_before": uptime,
        "load_before": load_before,
        "load_after": run_record.read_load_average(),
        "targets": TARGETS,
        **measured,
    }
    run_record.write_results("sessions", results, render_markdown(results))


if __name__ == "__main__":
    main()
