"""Team mode in a real browser against a real OpenID Connect provider (oidc-provider-mock on
127.0.0.1, started here): two people sign in from two browser contexts; the viewer cannot
edit; the admin makes them curator on the People page; both edit the same description, the
second save is refused with the diff and kept by choice; the history names the person; sign
out brings the sign-in screen back. Then the database file is checked."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import duckdb
import pytest

from curation.catalog import seed_imagenet1k
from curation.descriptions import import_builtin_sources, use_source_where_unset
from db.connect import connect
from tests.browser.conftest import SCREENSHOT_DIR as SCREENSHOTS
from tests.browser.conftest import save_screenshot, start_app, wait_for_app
from tests.oidc_provider import make_users, run_provider, write_auth_config

WNID = "n01443537"  # goldfish
LONG_MS = 90_000
USERS = (("ana", "ana@example.org", "Ana Admin"), ("bob", "bob@example.org", "Bob Lee"))


@pytest.fixture
def team_server(tmp_path):
    db_path = tmp_path / "team.duckdb"
    con = connect(db_path)
    seed_imagenet1k(con)
    import_builtin_sources(con)
    use_source_where_unset(con, source="wiktionary", actor="setup")
    con.close()  # the app's process must own the file
    with run_provider(make_users(*USERS)) as issuer:
        config = write_auth_config(tmp_path / "auth.toml", issuer, admins=["ana@example.org"])
        with start_app(db_path, extra_args=["--secrets.files", str(config)]) as server:
            yield server, issuer


def _key(page, key: str, inner: str = ""):
    return page.locator(f".st-key-{key} {inner}".strip())


def _sign_in(page, url: str, sub: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{url}/descriptions?wnid={WNID}", timeout=LONG_MS)
    expect(page.get_by_text("sign in to see and change it").first).to_be_visible(timeout=LONG_MS)
    assert page.locator(".st-key-desc-edit-text").count() == 0  # nothing of the page before
    _key(page, "auth-sign-in", "button").click()
    page.get_by_role("button", name=sub, exact=True).click(timeout=LONG_MS)  # provider's form
    expect(page.get_by_text("Signed in as", exact=False).first).to_be_visible(timeout=LONG_MS)
    page.goto(f"{url}/descriptions?wnid={WNID}", timeout=LONG_MS)  # the provider sends to /


def _save(page, text: str) -> None:
    editor = _key(page, "desc-edit-text", "textarea")
    editor.fill(text)
    editor.press("Tab")
    _key(page, "desc-save", "button").click()


def _choose(page, key: str, option: str) -> None:
    """Pick an option and wait until the app has run with it (a click that follows at once
    would otherwise send the old value on a loaded machine)."""
    from playwright.sync_api import expect

    wait_for_app(page)
    box = _key(page, key).get_by_role("combobox")
    if box.input_value() != option:
        _key(page, key).click()
        page.get_by_role("option", name=option, exact=True).click()
    expect(box).to_have_value(option)
    wait_for_app(page)


def test_two_people_roles_attribution_conflict_and_sign_out(team_server, chromium):
    from playwright.sync_api import expect

    server, _issuer = team_server
    url = server.url
    expect.set_options(timeout=LONG_MS)
    ana_ctx = chromium.new_context(viewport={"width": 1400, "height": 1100})
    bob_ctx = chromium.new_context(viewport={"width": 1400, "height": 1100})
    ana, bob = ana_ctx.new_page(), bob_ctx.new_page()
    try:
        _sign_in(ana, url, "ana")
        expect(ana.get_by_text("Role: admin", exact=False).first).to_be_visible()
        _sign_in(bob, url, "bob")
        sidebar = bob.locator("[data-testid='stSidebar']")
        expect(sidebar.get_by_text("Bob Lee <bob@example.org>", exact=False).first).to_be_visible()
        expect(sidebar.get_by_text("Role: viewer", exact=False).first).to_be_visible()
        assert sidebar.locator("input").count() == 0  # no name field in team mode
        # A viewer: the page refuses (read only, editor and save disabled).
        expect(
            bob.get_by_text("Read only: editing descriptions needs the curator role").first
        ).to_be_visible()
        expect(_key(bob, "desc-save", "button")).to_be_disabled()
        expect(_key(bob, "desc-edit-text", "textarea")).to_be_disabled()
        save_screenshot(bob, "team-viewer-read-only")

        # The admin makes bob a curator on the People page.
        ana.goto(f"{url}/people", timeout=LONG_MS)
        _choose(ana, "people-who", "bob@example.org (viewer)")
        _choose(ana, "people-role", "curator")
        _key(ana, "people-set-role", "button").click()
        done = "example.org is now curator."  # (a word joiner sits before the @)
        expect(ana.locator("[data-testid='stAlert']").filter(has_text=done)).to_be_visible()

        # Both open the description; bob saves first, ana's save is refused with the diff.
        ana.goto(f"{url}/descriptions?wnid={WNID}", timeout=LONG_MS)
        expect(_key(ana, "desc-edit-text", "textarea")).to_be_enabled(timeout=LONG_MS)
        bob.reload()
        expect(bob.get_by_text("Role: curator", exact=False).first).to_be_visible(timeout=LONG_MS)
        expect(_key(bob, "desc-edit-text", "textarea")).to_be_enabled(timeout=LONG_MS)
        _save(bob, "A goldfish, as Bob wrote it.")
        expect(bob.get_by_text("saved as revision 2", exact=False).first).to_be_visible(
            timeout=LONG_MS
        )
        _save(ana, "A goldfish, as Ana wrote it.")
        # (An e-mail in a message carries an invisible word joiner before '@': no autolink.)
        expect(ana.get_by_text("Not saved: Bob Lee <bob", exact=False).first).to_be_visible()
        expect(ana.get_by_text("-A goldfish, as Bob wrote it.", exact=False).first).to_be_visible()
        save_screenshot(ana, "team-edit-conflict")
        _key(ana, "desc-conflict-mine", "button").click()
        expect(ana.get_by_text("saved as revision 3", exact=False).first).to_be_visible(
            timeout=LONG_MS
        )
        # Attribution: the history names both people, not keys or typed names.
        expect(ana.get_by_text("edit by Bob Lee <bob", exact=False).first).to_be_visible()
        expect(ana.get_by_text("edit by Ana Admin <ana", exact=False).first).to_be_visible()

        # Sign out: one click, then the sign-in screen again.
        _key(bob, "auth-sign-out", "button").click()
        end_session = bob.get_by_role("button", name="End session")
        end_session.or_(bob.get_by_text("sign in to see and change it")).first.wait_for(
            timeout=LONG_MS
        )
        if end_session.count():  # the provider's own logout page
            end_session.click()
        expect(bob.get_by_text("sign in to see and change it").first).to_be_visible(timeout=LONG_MS)
        bob.goto(f"{url}/descriptions?wnid={WNID}", timeout=LONG_MS)
        wait_for_app(bob)
        expect(_key(bob, "desc-edit-text", "textarea")).to_have_count(0)
    except Exception as exc:
        for name, page in (("ana", ana), ("bob", bob)):
            page.screenshot(path=str(SCREENSHOTS / f"team-failed-{name}.png"), full_page=True)
        raise AssertionError(f"{exc}\nserver log tail:\n{server.log_tail()}") from exc
    finally:
        ana_ctx.close()
        bob_ctx.close()
    _check_database(server.db_path)


def _check_database(db_path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "copy.duckdb"
        shutil.copy(db_path, copy)
        wal = Path(str(db_path) + ".wal")
        if wal.exists():
            shutil.copy(wal, Path(str(copy) + ".wal"))
        con = duckdb.connect(str(copy), read_only=True)
        events = con.execute(
            "SELECT actor, text_after, revision_after FROM description_events WHERE wnid = ? "
            "ORDER BY event_id",
            [WNID],
        ).fetchall()
        roles = dict(con.execute("SELECT email, role FROM users").fetchall())
        con.close()
    issuer_keys = [actor for actor, _, _ in events[1:]]
    assert [e[1:] for e in events[1:]] == [
        ("A goldfish, as Bob wrote it.", 2),
        ("A goldfish, as Ana wrote it.", 3),
    ]
    assert issuer_keys[0].endswith("#bob") and issuer_keys[1].endswith("#ana")
    assert roles == {"ana@example.org": "admin", "bob@example.org": "curator"}
