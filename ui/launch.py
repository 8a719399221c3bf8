"""Start the Streamlit server with `app.py` as the only router: `python -m ui.launch [options]`.

What the launcher adds to `streamlit run app.py`, before the server starts:

- The database lock. The server process opens $WORKBENCH_DB at once and keeps it open for
  its lifetime, so a CLI write is refused from the first second (not only after the first
  page view), and a file held by another process stops the start with one line and exit
  code 2. DuckDB shares one instance per file inside a process, so the app's own connection
  (`ui.resources`) opens the same database.
- A Host check (DNS rebinding). Every HTTP request and WebSocket handshake whose Host is not
  an allowed name gets 403: by default localhost, 127.0.0.1, ::1 and the configured
  `server.address`; set `server.allowedHosts` (config or `--server.allowedHosts`) for a
  deployment behind a proxy. Streamlit checks that option itself only for its WebSocket.
- An Origin check (cross-site requests). A browser names the page that makes a request in
  its Origin header: a WebSocket handshake or HTTP request whose Origin is not the app's own
  (the scheme, host and port it is served at, as in the request's Host) gets 403, so a page
  served from another local port (http://127.0.0.1:8710) can neither drive the app's
  WebSocket nor call its endpoints. A request without Origin (curl, a same-origin
  navigation) is not a cross-site one and passes.
- Error details. `.streamlit/config.toml` sets `client.showErrorDetails = "none"` (the browser
  shows a generic message; tracebacks go to the terminal); `$WORKBENCH_DEBUG=1` (what
  `workbench run --debug` sets) turns full details on.
- The command line relay. `workbench` commands for this database run inside this process
  while it holds the file (`cli.relay`: a private Unix socket), instead of failing on the lock.
- A warm start. The modules every page run needs (Streamlit's elements, polars, pyarrow,
  pandas, the descriptions library) are imported before the server listens, so the first
  sessions of a fresh server do not all queue on the import lock at once.
- The v2 page mode. Streamlit treats a `pages/` folder beside the entry script as a v1
  multipage app until the first `st.navigation` call of the process; a first visit by deep
  link (`/descriptions`) would then run the page without the router. Declaring the v2 mode
  before the server starts makes every link go through `app.py`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

APP_PATH = Path(__file__).resolve().parents[1] / "app.py"
DEBUG_ENV_VAR = "WORKBENCH_DEBUG"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
_ANY_ADDRESS = ("", "0.0.0.0", "::")
_REFUSED_HOST_BODY = (
    b"403: this server answers only to its own host names (DNS rebinding protection). "
    b"Open it as http://localhost:PORT, or list the name in server.allowedHosts.\n"
)
_REFUSED_ORIGIN_BODY = (
    b"403: this server answers only to pages it served itself (a request from another "
    b"origin: another site, or another port on this machine).\n"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HTTP_SCHEME = {"http": "http", "ws": "http", "https": "https", "wss": "https"}

# Imported before the server listens (none of them imports torch: that stays per page).
WARM_MODULES = (
    "polars",
    "pyarrow",
    "pandas",
    "plotly.graph_objects",
    "curation.descriptions",
    "ui.resources",
    "ui.widgets",
    "ui.plain",
)

# The open database of this process (held for the server's lifetime: the lock).
_DATABASE = None


def main(argv: list[str] | None = None) -> None:
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli

    hold_database()
    open_cli_relay()
    warm_up()
    install_host_check()
    PagesManager.uses_pages_directory = False
    sys.argv = compute_streamlit_argv(sys.argv[1:] if argv is None else argv, os.environ)
    cli.main()


def compute_streamlit_argv(args: list[str], environ) -> list[str]:
    """`streamlit run app.py ARGS`, with full error details when $WORKBENCH_DEBUG is set."""
    argv = ["streamlit", "run", str(APP_PATH), *args]
    if environ.get(DEBUG_ENV_VAR, "").lower() in ("1", "true", "yes"):
        argv += ["--client.showErrorDetails", "full"]
    return argv


def hold_database() -> None:
    """Open (and migrate) $WORKBENCH_DB for the life of this process, or exit with code 2."""
    global _DATABASE
    from db.connect import DATABASE_OPEN_ERRORS, connect, resolve_db_path

    try:
        _DATABASE = connect(resolve_db_path().resolve(), create=False)  # `workbench run` made it
    except DATABASE_OPEN_ERRORS as exc:
        print(f"workbench run: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def open_cli_relay() -> None:
    """Let `workbench` commands for this database run here while the app holds it
    (`cli.relay`)."""
    from cli.relay import start_relay
    from db.connect import resolve_db_path

    db_path = resolve_db_path().resolve()

    def run_command(argv: list[str]) -> int:
        from cli.main import run_relayed

        return run_relayed(db_path, argv)

    start_relay(db_path, run_command)


def warm_up() -> None:
    """Import `WARM_MODULES` now rather than in the first page runs."""
    import importlib

    for name in WARM_MODULES:
        importlib.import_module(name)


def compute_allowed_hosts(address: str | None, configured: list[str] | None) -> list[str]:
    """Host names the server answers: `configured` when set, else the local names + `address`."""
    if configured:
        return list(configured)
    hosts = list(LOCAL_HOSTS)
    if address and address not in _ANY_ADDRESS and address.lower() not in hosts:
        hosts.append(address.lower())
    return hosts


def is_allowed_host(host: str | None, allowed: list[str]) -> bool:
    """Whether a Host header ('name', 'name:port', '[v6]:port') names an allowed host.

    Patterns: an exact name, '*.example.com' (subdomains), or '*' (any).
    """
    if not host:
        return False
    try:
        name = urlsplit(f"//{host}").hostname
    except ValueError:
        return False
    if not name:
        return False
    name = name.lower().rstrip(".")
    for pattern in (p.strip().lower().rstrip(".") for p in allowed):
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


def is_own_origin(origin: str, host: str, scheme: str) -> bool:
    """Whether an Origin header ('http://localhost:8501') is the app's own origin: the
    request's `scheme` ('http', 'https', 'ws', 'wss'), and the host and port of its Host
    header (default ports filled in)."""
    expected_scheme = _HTTP_SCHEME.get(scheme)
    try:
        seen, served = urlsplit(origin.strip()), urlsplit(f"//{host}")
        seen_port = seen.port or _DEFAULT_PORTS.get(seen.scheme)
        served_port = served.port or _DEFAULT_PORTS.get(expected_scheme or "")
    except ValueError:
        return False
    return (
        seen.scheme == expected_scheme
        and bool(seen.hostname)
        and seen.hostname == served.hostname
        and seen_port == served_port
        and not (seen.path.strip("/") or seen.query or seen.fragment or seen.username)
    )


class HostCheckMiddleware:
    """ASGI middleware: 403 for an HTTP request or WebSocket handshake from a foreign Host,
    or from a page of another origin (an Origin header that is not the app's own)."""

    def __init__(self, app, allowed: list[str]):
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = dict(scope.get("headers") or [])
            host = headers.get(b"host", b"").decode("latin-1")
            origin = headers.get(b"origin")
            if not is_allowed_host(host, self.allowed):
                await _refuse(scope, send, _REFUSED_HOST_BODY)
                return
            if origin is not None and not is_own_origin(
                origin.decode("latin-1"), host, scope.get("scheme", "http")
            ):
                await _refuse(scope, send, _REFUSED_ORIGIN_BODY)
                return
        await self.app(scope, receive, send)


async def _refuse(scope, send, body: bytes) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
        return
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install_host_check() -> None:
    """Put `HostCheckMiddleware` first in the middleware of the app Streamlit builds.

    Streamlit builds its Starlette app when the server starts, after reading its config, so
    the allowed hosts are computed then; `server.allowedHosts` is set to the same list, so
    Streamlit's own WebSocket check agrees.
    """
    from starlette.middleware import Middleware
    from streamlit import config
    from streamlit.web.server.starlette import starlette_app

    streamlit_middleware = starlette_app.create_streamlit_middleware

    def with_host_check() -> list:
        allowed = compute_allowed_hosts(
            config.get_option("server.address"), config.get_option("server.allowedHosts")
        )
        config.set_option("server.allowedHosts", allowed, "ui.launch")
        return [Middleware(HostCheckMiddleware, allowed=allowed), *streamlit_middleware()]

    starlette_app.create_streamlit_middleware = with_host_check


if __name__ == "__main__":
    main()
