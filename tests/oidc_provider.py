"""A real OpenID Connect provider for tests and local trials: oidc-provider-mock (MIT) served
on 127.0.0.1 from a thread, with a few predefined people, plus the team-mode config file that
points the workbench at it.

    with run_provider(USERS) as issuer:            # e.g. http://127.0.0.1:8630
        path = write_auth_config(tmp / "auth.toml", issuer, admins=["ana@example.org"])

A person signs in on the provider's form by clicking their predefined button (or typing any
subject). Run `python -m tests.oidc_provider [PORT]` to try team mode by hand.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

PORTS = range(8630, 8640)  # the provider's ports when free (env WORKBENCH_OIDC_PORT: one)


def make_users(*people: tuple[str, str, str]):
    """Predefined provider users from (subject, e-mail, name)."""
    from oidc_provider_mock import User

    return [
        User(sub=sub, claims={"email": email, "email_verified": True, "name": name})
        for sub, email, name in people
    ]


@contextlib.contextmanager
def run_provider(users: Sequence = (), *, port: int | None = None) -> Iterator[str]:
    """Serve the provider on 127.0.0.1 until the block ends. Yields its issuer URL."""
    import oidc_provider_mock
    import werkzeug.serving

    app = oidc_provider_mock.app(user_claims=list(users))
    server = werkzeug.serving.make_server("127.0.0.1", port or _free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def write_auth_config(
    path: Path,
    issuer: str,
    *,
    admins: Sequence[str],
    invite_only: bool = False,
    redirect_uri: str = "http://127.0.0.1:{port}/oauth2callback",
) -> Path:
    """The team-mode config (Streamlit secrets TOML) for a workbench signing in at `issuer`."""
    admin_list = ", ".join(f'"{a}"' for a in admins)
    path.write_text(
        "[auth]\n"
        f'redirect_uri = "{redirect_uri}"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "workbench"\n'
        'client_secret = "test-secret"\n'
        f'server_metadata_url = "{issuer}/.well-known/openid-configuration"\n\n'
        "[workbench]\n"
        f"admins = [{admin_list}]\n"
        f"invite_only = {'true' if invite_only else 'false'}\n",
        encoding="utf-8",
    )
    return path


def _free_port() -> int:
    wanted = os.environ.get("WORKBENCH_OIDC_PORT")
    for port in [int(wanted)] if wanted else PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port for the test OpenID provider in {PORTS}")


if __name__ == "__main__":
    import sys
    import time

    people = make_users(
        ("ana", "ana@example.org", "Ana Admin"), ("bob", "bob@example.org", "Bob Curator")
    )
    with run_provider(people, port=int(sys.argv[1]) if len(sys.argv) > 1 else None) as url:
        print(f"OpenID provider at {url} (Ctrl-C stops it)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
