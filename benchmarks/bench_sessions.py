"""Concurrent sessions on one server: page open and description save, no hang, no lost edit.

For each session count (default 1, 5, 10, 20) a FRESH server (`python -m ui.launch`, the
launcher of `workbench run`) is started on 127.0.0.1 (the first free port of 8620-8629) on
its own temporary copy of the demo database (`workbench build-demo`), and that many sessions,
each on its own class (`/descriptions?wnid=<class>&curator=bench-s<i>`), run at once:
1. page open: every session opens its page at the same moment;
2. save: every session sets a unique text and clicks "Save description" at the same moment,
   `--rounds` times, and must then see the saved text as the active description;
3. afterwards the database (a copy; the server holds the file) must hold every edit, each by
   its own session's curator on its own class (none lost, none misattributed), and neither the
   sessions nor the server log may show an error. A step over `--step-timeout-s` is a hang.

Two client kinds (`--client`), because the clients share the server's 2-core machine:
- `browser` (default): Chromium pages (Playwright, one browser, one page per session). Page
  open is seconds from `goto` until the editor is drawn and the script run is done; save,
  from the click until the page shows the text. This is what a person sees, but it includes
  every renderer's work: at 20 sessions the 20 Chromium renderers take most of the CPU, so
  the figure is mostly client rendering, not the server.
- `protocol`: Streamlit's own websocket protocol, no browser (`websockets`, asyncio). Page
  open is seconds from the page's HTTP request (the XSRF cookie, as the browser gets it) via
  the handshake on `/_stcore/stream` (Origin = the app's own) and a `rerun_script` BackMsg
  (query string, page name) until the run's `script_finished` with the editor and Save
  button among its deltas (a "busy" page is retried every 5 s, as its own timer does).
  Save is seconds from a rerun whose widget states set the text area's `string_value` and
  Save's `trigger_value` until that run's `script_finished`; its deltas must hold the text
  in a code element. It sends only those two widget states (the browser sends every
  widget's), draws nothing, and counts an error element in any run, not only the last.
  This is the server's own latency, with little client CPU.
Then, with the browser client only, on a fresh server with one page open and left alone, the
server's CPU time over `--idle-s` seconds (from /proc: user + system) gives the cost of an idle
open page. The results file keeps the other client's levels (and older levels not measured
again): one table, a `client` column.

Every loop and wait is bounded; the servers are stopped at the end, whatever happens.

Usage:
    .venv/bin/python benchmarks/bench_sessions.py [--client browser|protocol]
        [--sessions 1,5,10,20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import http.cookiejar
import json
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

from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks import run_record  # noqa: E402

PORTS = range(8620, 8630)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TARGETS = {"open_p95_s": 5.0, "save_p95_s": 1.5, "idle_core_share": 0.01}
ERROR_SELECTOR = "[data-testid='stException'], [data-testid='stAlertContentError']"
XSRF_COOKIE = "_streamlit_xsrf"
EDIT_KEY, SAVE_KEY = "desc-edit-text", "desc-save"  # widget keys of pages/descriptions.py
BUSY_RETRY_S = 5.0  # ui.widgets.BUSY_RETRY_S: the busy page's own retry timer
RERUN_STATUS = ForwardMsg.FINISHED_EARLY_FOR_RERUN  # a run cut short by a rerun


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


class BrowserSession:
    """One Chromium page: what a person sees (the server's work plus the page's rendering)."""

    def __init__(self, page):
        self.page = page

    async def open(self, url: str, wnid: str, actor: str, timeout_s: float) -> float:
        return await open_session(self.page, url, wnid, actor, timeout_s)

    async def save(self, text: str, timeout_s: float) -> float:
        return await save_description(self.page, text, timeout_s)

    async def count_errors(self) -> int:
        return await count_errors(self.page)


@contextlib.asynccontextmanager
async def browser_sessions(browser, count: int):
    """`count` pages of one new browser context, closed on exit."""
    context = await browser.new_context(viewport={"width": 1300, "height": 900})
    try:
        yield [BrowserSession(await context.new_page()) for _ in range(count)]
    finally:
        await context.close()


def fetch_xsrf_cookie(url: str, path: str, timeout_s: float) -> str | None:
    """GET the page `path` and `/_stcore/health`, as the browser does before it connects;
    the XSRF cookie the server set (None when XSRF protection is off)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar)
    )
    for target in (f"{url}{path}", f"{url}/_stcore/health"):
        with opener.open(target, timeout=timeout_s) as answer:
            answer.read()
    return next((c.value for c in jar if c.name == XSRF_COOKIE), None)


def widget_id(element) -> str:
    """The widget id of an Element proto ('' for elements that are not widgets)."""
    kind = element.WhichOneof("type")
    return getattr(getattr(element, kind), "id", "") if kind else ""


def is_error_element(element) -> bool:
    kind = element.WhichOneof("type")
    return kind == "exception" or (kind == "alert" and element.alert.format == Alert.ERROR)


class ProtocolSession:
    """One Streamlit session driven over its websocket, no browser: the server's own latency
    (handshake, script runs, deltas on the wire), without any rendering."""

    def __init__(self):
        self.ws, self.widgets, self.errors = None, {}, 0
        self.query_string, self.page_name = "", ""

    async def open(self, url: str, wnid: str, actor: str, timeout_s: float) -> float:
        """Seconds from the page request until the first script run ends with the editor."""
        started = time.perf_counter()
        self.page_name, self.query_string = "descriptions", f"wnid={wnid}&curator={actor}"
        xsrf = await asyncio.to_thread(
            fetch_xsrf_cookie, url, f"/{self.page_name}?{self.query_string}", timeout_s
        )
        self.ws = await connect(
            url.replace("http://", "ws://") + "/_stcore/stream",
            origin=url,
            subprotocols=["streamlit", xsrf] if xsrf else ["streamlit"],
            additional_headers={"Cookie": f"{XSRF_COOKIE}={xsrf}"} if xsrf else None,
            proxy=None,
            max_size=None,
            open_timeout=timeout_s,
        )
        deadline = started + timeout_s
        await self.rerun([], deadline)
        while not {EDIT_KEY, SAVE_KEY} <= self.widgets.keys():  # busy: retry as the page does
            await asyncio.sleep(min(BUSY_RETRY_S, max(0.0, deadline - time.perf_counter())))
            await self.rerun([], deadline)
        return time.perf_counter() - started

    async def save(self, text: str, timeout_s: float) -> float:
        """Seconds from the rerun that sets the text and clicks Save until its run ends;
        the run must show `text` as the active description."""
        started = time.perf_counter()
        states = [
            WidgetState(id=self.widgets[EDIT_KEY], string_value=text),
            WidgetState(id=self.widgets[SAVE_KEY], trigger_value=True),
        ]
        shown = await self.rerun(states, started + timeout_s)
        if text not in shown:
            raise AssertionError("the saved text is not on the page after the save")
        return time.perf_counter() - started

    async def rerun(self, states: list, deadline: float) -> set[str]:
        """Send a rerun with `states`; read until a run finishes (not one cut short for a
        rerun) or `deadline`. The code texts that run drew."""
        message = BackMsg()
        message.rerun_script.query_string = self.query_string
        message.rerun_script.page_name = self.page_name
        message.rerun_script.widget_states.widgets.extend(states)
        await self.ws.send(message.SerializeToString())
        shown = set()
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError("no script_finished before the step timeout")
            forward = ForwardMsg()
            forward.ParseFromString(await asyncio.wait_for(self.ws.recv(), remaining))
            kind = forward.WhichOneof("type")
            if kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                shown |= self.note_element(forward.delta.new_element)
            elif kind == "script_finished" and forward.script_finished != RERUN_STATUS:
                return shown

    def note_element(self, element) -> set[str]:
        """Remember the editor's and Save's widget ids, count error elements; the code text
        of a code element."""
        ident = widget_id(element)
        for key in (EDIT_KEY, SAVE_KEY):
            if ident.endswith(f"-{key}"):
                self.widgets[key] = ident
        self.errors += is_error_element(element)
        return {element.code.code_text} if element.WhichOneof("type") == "code" else set()

    async def count_errors(self) -> int:
        """Error elements (exception, error alert) in any run of this session."""
        return self.errors

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 10)


@contextlib.asynccontextmanager
async def protocol_sessions(count: int):
    """`count` websocket sessions (connected by `open`), closed on exit."""
    sessions = [ProtocolSession() for _ in range(count)]
    try:
        yield sessions
    finally:
        await asyncio.gather(*(s.close() for s in sessions))


async def run_level(sessions: list, url: str, wnids: list[str], *, rounds: int, timeout_s: float):
    """Open len(wnids) sessions at once, then save `rounds` times in each, all at once."""
    actors = [f"bench-s{i}" for i in range(len(wnids))]
    failures, expected = [], []
    opened = await asyncio.gather(
        *(s.open(url, w, a, timeout_s) for s, w, a in zip(sessions, wnids, actors, strict=True)),
        return_exceptions=True,
    )
    open_s = [o for o in opened if isinstance(o, float)]
    failures += [f"open: {type(o).__name__}" for o in opened if not isinstance(o, float)]
    save_s = []
    for r in range(rounds if not failures else 0):
        texts = [f"bench session {a} round {r} {uuid.uuid4().hex[:12]}" for a in actors]
        expected += [(w, a, t) for w, a, t in zip(wnids, actors, texts, strict=True)]
        saved = await asyncio.gather(
            *(s.save(t, timeout_s) for s, t in zip(sessions, texts, strict=True)),
            return_exceptions=True,
        )
        save_s += [s for s in saved if isinstance(s, float)]
        failures += [f"save: {type(s).__name__}" for s in saved if not isinstance(s, float)]
    errors = sum([await s.count_errors() for s in sessions])
    return open_s, save_s, failures, errors, expected


def check_edits(db_path: Path, wnids: list[str], expected: list[tuple]) -> tuple[int, int]:
    """(lost, misattributed): expected edits missing, and saved texts under another class
    or curator than the session that typed them."""
    rows = read_edits(db_path, wnids)
    by_text = {text: (wnid, actor) for wnid, actor, text in rows}
    lost = sum(t not in by_text for _, _, t in expected)
    wrong = sum(t in by_text and by_text[t] != (w, a) for w, a, t in expected)
    return lost, wrong


async def measure_level(open_sessions, source: Path, count: int, args) -> dict:
    """One fresh server, `count` sessions from `open_sessions(count)` (an async context
    manager giving the session objects)."""
    with tempfile.TemporaryDirectory() as tmp:
        db_path = copy_database(source, Path(tmp))
        wnids = pick_classes(db_path, count)
        server = Server(db_path, free_port())
        try:
            server.wait_until_healthy()
            started, cpu_before = time.perf_counter(), server.cpu_seconds()
            async with open_sessions(count) as sessions:
                open_s, save_s, failures, errors, expected = await asyncio.wait_for(
                    run_level(
                        sessions,
                        server.url,
                        wnids,
                        rounds=args.rounds,
                        timeout_s=args.step_timeout_s,
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
        "client": args.client,
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
    """The levels of `args.sessions` with the client `args.client`; the idle cost of an open
    page with the browser client only (a protocol session runs no timers of its own)."""
    if args.client == "protocol":
        levels = [await measure_level(protocol_sessions, args.db, n, args) for n in args.sessions]
        return {"levels": levels, "idle": None}
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pages = functools.partial(browser_sessions, browser)
            levels = [await measure_level(pages, args.db, n, args) for n in args.sessions]
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


def merge_runs(previous: dict | None, run: dict) -> list[dict]:
    """The runs of the results file `previous` (one run when it predates the `runs` list)
    less what `run` measures again (its client's session counts, the idle cost when it has
    one), then `run`: the table keeps the other client's figures and older levels."""
    if previous and "runs" not in previous and "levels" in previous:
        previous = {"runs": [{**previous, "client": "browser"}]}
    kept = []
    for old in (previous or {}).get("runs", []):
        levels = [
            {"client": old["client"], **level}
            for level in old["levels"]
            if (level.get("client", old["client"]), level["sessions"])
            not in {(run["client"], n["sessions"]) for n in run["levels"]}
        ]
        idle = None if run.get("idle") else old.get("idle")
        if levels or idle:
            kept.append({**old, "levels": levels, "idle": idle})
    return [*kept, run]


def read_previous_results() -> dict | None:
    path = run_record.RESULTS / "sessions.json"
    with contextlib.suppress(OSError, ValueError):
        return json.loads(path.read_text(encoding="utf-8"))
    return None


def render_level_row(level: dict, run_number: int) -> str:
    errors = len(level["failures"]) + level["page_errors"] + level["server_tracebacks"]
    return (
        f"| {level['client']} | {level['sessions']} | {level['open_p50_s']} / "
        f"{level['open_p95_s']} | {level['save_p50_s']} / {level['save_p95_s']} "
        f"| {level['n_saves']} | {level['lost_edits']} / {level['misattributed_edits']} "
        f"| {errors} | {'no' if level['server_healthy_after'] else 'YES'} "
        f"| {level['server_cpu_s']} / {level['wall_s']} "
        f"| {'yes' if passes(level) else 'no'} | {run_number} |"
    )


def render_run_note(run: dict, run_number: int) -> list[str]:
    lines = [
        f"{run_number}. `{run['command']}` ({run['client']} client) on {run['machine']} "
        f"({run['cpu_count']} CPUs), load average {run['load_before']} before, "
        f"{run['load_after']} after (`uptime`: {run['uptime_before']})."
    ]
    if run.get("idle"):
        idle = run["idle"]
        shares = ", ".join(f"{p}: {s:.2%}" for p, s in idle["core_share_by_page"].items())
        lines.append(
            f"   Idle open page ({run['client']}), server CPU over {idle['idle_s']} s: "
            f"{shares} of one core (target <= {TARGETS['idle_core_share']:.0%})."
        )
    return lines


def render_markdown(results: dict) -> str:
    rows = sorted(
        (level["client"], level["sessions"], number, level)
        for number, run in enumerate(results["runs"], 1)
        for level in run["levels"]
    )
    lines = [
        "# Concurrent sessions (Class descriptions page)",
        "",
        "Client `browser`: Chromium pages on the same machine (what a person sees, rendering "
        "included). Client `protocol`: Streamlit's websocket protocol without a browser (the "
        "server's own latency). See the docstring of `benchmarks/bench_sessions.py`.",
        "",
        "| client | sessions | page open p50 / p95 (s) | save p50 / p95 (s) | saves "
        "| lost / misattributed | errors | hang | server CPU s / wall s | meets targets | run |",
        "|---|---:|---|---|---:|---|---:|---|---|---|---:|",
        *(render_level_row(level, number) for _, _, number, level in rows),
        "",
        "Runs:",
        "",
    ]
    for number, run in enumerate(results["runs"], 1):
        lines += render_run_note(run, number)
    lines += [
        "",
        f"Targets: page open p95 <= {TARGETS['open_p95_s']} s, save p95 <= "
        f"{TARGETS['save_p95_s']} s, no hang, no error, no lost or misattributed edit.",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=REPO_ROOT / "data" / "workbench.duckdb")
    parser.add_argument("--sessions", default="1,5,10,20")
    parser.add_argument("--client", choices=["browser", "protocol"], default="browser")
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
    run = {
        "client": args.client,
        "command": run_record.describe_command("bench_sessions.py", argv),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "uptime_before": uptime,
        "load_before": load_before,
        "load_after": run_record.read_load_average(),
        **measured,
    }
    results = {"targets": TARGETS, "runs": merge_runs(read_previous_results(), run)}
    run_record.write_results("sessions", results, render_markdown(results))


if __name__ == "__main__":
    main()
