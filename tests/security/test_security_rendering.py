"""Finding 1 (and the browser part of 4) of issue 10, in Chromium.

1. Markdown from data and users was rendered: a job message or an error quoting user input
   of `![x](http://127.0.0.1:PORT/x.png)` made the browser fetch that URL. A test-only script
   (`hostile_app.py`) pushes hostile strings through every `ui.plain` helper (messages,
   caption, progress text, toast, widget labels, options) and through
   `ui.widgets.render_job_status` (a real job, run by the real worker, whose progress message
   and error are hostile). The DOM must hold no element made from those strings (no `img`,
   `a`, `script`, `iframe`, KaTeX or emoji), the strings must read as typed, and a local
   canary HTTP server must receive no request.
4. `client.showErrorDetails` was "full": every traceback reached the browser. An uncaught
   exception now shows a generic message; its text and traceback stay in the terminal.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from contract.specs import JsonSpec
from db import jobs as job_db
from db.connect import connect
from jobs.registry import list_job_kinds, register_job
from jobs.worker import run_queued_jobs, submit_job
from tests.browser.conftest import CHROMIUM, start_app, wait_for_app

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed"),
]
SCRIPT = Path(__file__).with_name("hostile_app.py")
JOB_KIND = "security-hostile-message"


@dataclass(frozen=True)
class HostileMessageSpec(JsonSpec):
    """A test job that reports `message` as its progress and then fails with it."""

    message: str = ""


if JOB_KIND not in list_job_kinds():

    @register_job(JOB_KIND, spec=HostileMessageSpec)
    def _hostile_job(con, spec: HostileMessageSpec, progress) -> None:
        progress(0.4, spec.message)
        raise RuntimeError(spec.message)


class _Canary(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        _Canary.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def canary_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canary)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _hostile_strings(canary: str) -> list[str]:
    return [
        f"![img]({canary}/markdown-image.png) file.json",
        f"[link]({canary}/markdown-link) and <{canary}/angle-autolink> and {canary}/bare",
        f"<img src='{canary}/html-img.png'> <iframe src='{canary}/frame'></iframe>",
        f"<script src='{canary}/script.js'></script><script>fetch('{canary}/inline')</script>",
        "[click](javascript:alert(document.domain)) <a href='javascript:alert(1)'>a</a>",
        ":material/warning: :smile: :red[red text] :blue-background[blue]",
        "$\\frac{a}{b}$ and $$x^2$$ and \\(y\\)",
        "**bold** _it_ `code` ~~strike~~ # heading | table | - list",
        f"<style>@import '{canary}/style.css';</style> &amp; &lt;b&gt;",
    ]


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory, canary_url):
    folder = tmp_path_factory.mktemp("hostile")
    db_path = folder / "hostile.duckdb"
    strings = _hostile_strings(canary_url)
    con = connect(db_path)
    job_id = submit_job(con, kind=JOB_KIND, spec={"message": strings[0] + " " + strings[2]})
    run_queued_jobs(con)  # the real worker: progress message and error are the hostile text
    job = job_db.get_job(con, job_id)
    con.close()
    assert job["status"] == "failed" and strings[0] in job["message"], job
    env = {"HOSTILE_STRINGS": json.dumps(strings), "HOSTILE_JOB_ID": str(job_id)}
    with start_app(db_path, script=SCRIPT, env=env) as server:
        yield server, strings


_INJECTED = """(canary) => {
  const found = [];
  const bad = (value) => value && (value.includes(canary) || /^\\s*javascript:/i.test(value));
  for (const el of document.querySelectorAll('img, iframe, script, link, source, video, audio'))
    if (bad(el.getAttribute('src')) || bad(el.getAttribute('href'))) found.push(el.outerHTML);
  for (const el of document.querySelectorAll('a'))
    if (bad(el.getAttribute('href'))) found.push(el.outerHTML);
  for (const el of document.querySelectorAll('script'))
    if ((el.textContent || '').includes(canary)) found.push(el.outerHTML.slice(0, 200));
  for (const el of document.querySelectorAll('.katex, .katex-display, strong, em, del, h1'))
    if (el.closest('[class*="st-key-hostile"]')) found.push(el.outerHTML.slice(0, 200));
  return found;
}"""


def test_hostile_text_renders_as_typed_and_loads_nothing(hostile_server, browser_page, canary_url):
    from playwright.sync_api import expect

    server, strings = hostile_server
    page = browser_page
    _Canary.requests.clear()
    page.goto(server.url, timeout=60_000)
    wait_for_app(page)
    expect(page.get_by_text("hostile page rendered")).to_be_visible(timeout=60_000)
    job_code = page.locator(".st-key-hostile-job [data-testid='stCode']")  # loaded lazily
    expect(job_code).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1500)  # let any injected image, script or link load
    injected = page.evaluate(_INJECTED, canary_url)
    assert injected == [], f"elements made from data: {injected}\n{server.log_tail()}"
    assert _Canary.requests == [], f"the browser fetched {_Canary.requests}"
    for i, text in enumerate(strings):
        shown = page.locator(f".st-key-hostile-{i} [data-testid='stAlertContentError']")
        assert _visible(shown) == text, (i, shown.inner_text(), text)
    message = page.locator(".st-key-hostile-job [data-testid='stText']").first.inner_text()
    assert strings[0] in message and strings[2] in message, message  # as typed, no joiners
    # 4 messages, caption, progress text, button/checkbox/input/expander/metric labels, the
    # selectbox and radio options: 12 places each read exactly as typed.
    boxes = [_visible(page.locator(f".st-key-hostile-{i}")) for i in range(len(strings))]
    counts = [box.count(text) for box, text in zip(boxes, strings, strict=True)]
    assert counts == [12] * len(strings), counts


def _visible(locator) -> str:
    """The text a person reads (the invisible word joiners that break autolinks removed)."""
    return locator.inner_text().replace("\u2060", "").strip()


def test_an_uncaught_exception_shows_no_details_in_the_browser(hostile_server, browser_page):
    server, _ = hostile_server
    page = browser_page
    page.goto(server.url + "/?mode=raise", timeout=60_000)
    wait_for_app(page)
    page.wait_for_selector("[data-testid='stException'], [data-testid='stAlert']", timeout=60_000)
    body = page.inner_text("body")
    for secret in ("secret-exception-message", "secret_function_name", "hostile_app.py"):
        assert secret not in body, body[:2000]
    assert "secret-exception-message" in server.log_tail(20_000)  # the terminal has it
