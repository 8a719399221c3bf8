"""The team-mode configuration file: checked before the server starts, read by the app.

The file is a Streamlit secrets file (TOML). `[auth]` is what `st.login` reads (OpenID
Connect, through Authlib); `[workbench]` is ours:

    [auth]
    redirect_uri = "http://localhost:8501/oauth2callback"
    cookie_secret = "64 hex digits"  # python -c "import secrets;print(secrets.token_hex(32))"
    client_id = "workbench"
    client_secret = "..."
    server_metadata_url = "https://issuer.example.org/.well-known/openid-configuration"

    [workbench]
    admins = ["ana@example.org"]   # e-mails or issuer#subject keys: admins from the first sign-in
    invite_only = false            # true: people not invited (and not admins) are refused

`check_auth_config` returns the problems as one line each (no traceback), so
`workbench run --auth-config FILE` can stop at once on a misconfiguration.
"""

from __future__ import annotations

import json
import tomllib
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from curation.access import Policy

REQUIRED_AUTH_KEYS = (
    "redirect_uri",
    "cookie_secret",
    "client_id",
    "client_secret",
    "server_metadata_url",
)
MIN_COOKIE_SECRET_CHARS = 32
_METADATA_KEYS = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


def load_auth_config(path: str | Path, *, port: int | None = None) -> dict:
    """Read and check a team-mode configuration file.

    Args:
        port: the port the app will listen on; the redirect URI must use it (or `{port}`).

    Returns:
        The parsed TOML (`auth`, optionally `workbench`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not TOML, or a setting missing or wrong (the message names it and says
            what to write).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"auth config {path}: no such file")
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"auth config {path}: not valid TOML ({exc})") from None
    problem = check_auth_config(config, port=port)
    if problem:
        raise ValueError(f"auth config {path}: {problem}")
    return config


def check_auth_config(config: Mapping, *, port: int | None = None) -> str | None:
    """The first problem of a configuration (one line), or None when it is usable."""
    auth = config.get("auth")
    if not isinstance(auth, Mapping):
        return "no [auth] section (see the README, 'Team mode')"
    missing = [key for key in REQUIRED_AUTH_KEYS if not str(auth.get(key) or "").strip()]
    if missing:
        return f"[auth] is missing {', '.join(missing)}"
    redirect = str(auth["redirect_uri"])
    parts = urlsplit(redirect.replace("{port}", str(port or 8501)))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"[auth] redirect_uri {redirect!r} is not an http(s) URL"
    if not parts.path.endswith("/oauth2callback"):
        return f"[auth] redirect_uri must end with /oauth2callback (got {redirect!r})"
    if port is not None and "{port}" not in redirect and (parts.port or 80) != port:
        return f"[auth] redirect_uri uses port {parts.port}, but the app listens on {port}"
    if len(str(auth["cookie_secret"])) < MIN_COOKIE_SECRET_CHARS:
        return f"[auth] cookie_secret must be at least {MIN_COOKIE_SECRET_CHARS} random characters"
    metadata = urlsplit(str(auth["server_metadata_url"]))
    if metadata.scheme not in ("http", "https") or not metadata.netloc:
        return "[auth] server_metadata_url is not an http(s) URL"
    return _check_workbench_section(config.get("workbench", {}))


def _check_workbench_section(section: object) -> str | None:
    if not isinstance(section, Mapping):
        return "[workbench] must be a table"
    admins = section.get("admins", [])
    if not isinstance(admins, list) or not all(isinstance(a, str) and a for a in admins):
        return '[workbench] admins must be a list of e-mails or keys, e.g. ["ana@example.org"]'
    if not admins:
        return (
            '[workbench] admins is empty: name the first admin, e.g. admins = ["you@example.org"]'
        )
    if not isinstance(section.get("invite_only", False), bool):
        return "[workbench] invite_only must be true or false"
    return None


def policy_from_secrets(secrets: Mapping) -> Policy:
    """The team policy a checked configuration describes."""
    section = secrets.get("workbench") or {}
    return Policy(
        team=True,
        invite_only=bool(section.get("invite_only", False)),
        first_admins=tuple(str(a) for a in section.get("admins", [])),
    )


def check_provider(metadata_url: str, *, timeout_s: float = 5.0) -> str | None:
    """Why the provider's discovery document cannot be used now (one line), or None.

    A provider that does not answer, answers with an error, or whose document lacks what
    OpenID Connect needs (`issuer`, endpoints, keys).
    """
    if urlsplit(metadata_url).scheme not in ("http", "https"):
        return f"the provider URL {metadata_url!r} is not http(s)"
    try:
        with urllib.request.urlopen(metadata_url, timeout=timeout_s) as response:  # noqa: S310
            document = json.loads(response.read(1_000_000))
    except urllib.error.HTTPError as exc:
        return f"the sign-in provider answered {exc.code} at {metadata_url}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"the sign-in provider at {metadata_url} does not answer ({reason})"
    except ValueError:
        return f"{metadata_url} is not an OpenID Connect discovery document (not JSON)"
    missing = [
        key for key in _METADATA_KEYS if not isinstance(document, dict) or key not in document
    ]
    if missing:
        return (
            f"{metadata_url} is not an OpenID Connect discovery document (no {', '.join(missing)})"
        )
    return None
