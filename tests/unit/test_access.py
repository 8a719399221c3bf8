"""Roles and sign-in (curation.access) on a real DuckDB file: the one check at write entry
points, first admins from configuration, invitations, invite only, unknown roles, the last
admin, attribution of jobs, and the team-mode configuration file."""

from __future__ import annotations

import pytest

from cli.main import main as workbench
from curation import access
from curation import descriptions as desc
from curation.auth_config import check_auth_config, check_provider, load_auth_config
from jobs.worker import cancel_job, submit_job

ISSUER = "http://127.0.0.1:8630"
TENCH = "n01440764"
TEAM = access.Policy(team=True, first_admins=("ana@example.org",))


def _person(sub: str, email: str | None = None) -> access.Identity:
    return access.Identity(issuer=ISSUER, subject=sub, email=email, name=sub.title())


@pytest.fixture
def team(catalog_con):
    """Team mode with ana (admin from the config) and bob (a new person: viewer)."""
    with access.using_policy(TEAM):
        ana = access.sign_in(catalog_con, _person("ana", "ana@example.org"))["user_key"]
        bob = access.sign_in(catalog_con, _person("bob", "bob@example.org"))["user_key"]
        yield catalog_con, ana, bob


def test_identity_key_is_issuer_and_subject():
    assert access.make_user_key(ISSUER + "/", "123") == f"{ISSUER}#123"
    with pytest.raises(ValueError):
        access.make_user_key(ISSUER, "")


def test_first_admin_from_configuration_others_are_viewers(team):
    con, ana, bob = team
    assert access.get_role(con, ana) == "admin"
    assert access.get_role(con, bob) == "viewer"
    assert access.get_role(con, "someone typed this") is None


def test_a_viewer_is_refused_by_the_library_and_nothing_is_written(team):
    con, _ana, bob = team
    with pytest.raises(access.AccessDenied, match="viewer.*curator role"):
        desc.update_active_description(con, TENCH, text="A fish.", actor=bob)
    assert desc.get_active_description(con, TENCH) is None
    with pytest.raises(access.AccessDenied):
        desc.import_builtin_sources(con, actor=bob)
    with pytest.raises(access.AccessDenied, match="Sign in"):
        desc.update_active_description(con, TENCH, text="A fish.", actor="")


def test_a_curator_edits_and_is_recorded_by_key(team):
    con, ana, bob = team
    access.set_role(con, "bob@example.org", "curator", actor=ana)
    change = desc.update_active_description(con, TENCH, text="A fish.", actor=bob)
    assert desc.list_description_history(con, TENCH)["actor"][0] == bob
    assert access.get_display_names(con)[bob] == "Bob <bob@example.org>"
    activity = access.list_activity(con, actor=bob)
    assert activity["what"].to_list() == ["description edit"] and change.revision == 1
    # A curator may not manage roles, train, or export.
    with pytest.raises(access.AccessDenied):
        access.set_role(con, ana, "viewer", actor=bob)
    with pytest.raises(access.AccessDenied):
        submit_job(con, kind="relevance-train", spec={}, actor=bob)


def test_unknown_role_and_last_admin_are_refused(team):
    con, ana, bob = team
    with pytest.raises(ValueError, match="valid roles: viewer, curator, admin"):
        access.set_role(con, bob, "owner", actor=ana)
    with pytest.raises(ValueError, match="last admin"):
        access.set_role(con, ana, "curator", actor=ana)
    with pytest.raises(ValueError, match="last admin"):
        access.remove_user(con, ana, actor=ana)
    access.set_role(con, bob, "admin", actor=ana)
    access.set_role(con, ana, "curator", actor=bob)  # two admins: one may step down
    assert access.get_role(con, ana) == "curator"


def test_config_admin_is_restored_at_sign_in(team):
    con, ana, bob = team
    access.set_role(con, bob, "admin", actor=ana)
    access.set_role(con, ana, "viewer", actor=bob)
    access.sign_in(con, _person("ana", "ana@example.org"))
    assert access.get_role(con, ana) == "admin"


def test_invite_only_refuses_strangers_and_admits_invitations(catalog_con):
    policy = access.Policy(team=True, invite_only=True, first_admins=("ana@example.org",))
    with access.using_policy(policy):
        ana = access.sign_in(catalog_con, _person("ana", "ana@example.org"))["user_key"]
        with pytest.raises(access.AccessDenied, match="invite only"):
            access.sign_in(catalog_con, _person("eve", "eve@example.org"))
        access.invite(catalog_con, "Cy@Example.org", "curator", actor=ana)
        cy = access.sign_in(catalog_con, _person("cy", "cy@example.org"))
        assert cy["role"] == "curator"
        keys = access.list_users(catalog_con)["user_key"].to_list()
        assert "invite:cy@example.org" not in keys and cy["user_key"] in keys
        # An unverified e-mail does not take an invitation or the configured admin role.
        access.invite(catalog_con, "dee@example.org", "admin", actor=ana)
        fake = access.Identity(ISSUER, "dee", "dee@example.org", email_verified=False)
        with pytest.raises(access.AccessDenied):
            access.sign_in(catalog_con, fake)


def test_jobs_record_who_and_only_admins_cancel_others(team):
    con, ana, bob = team
    access.set_role(con, bob, "curator", actor=ana)
    job = submit_job(con, kind="noop", spec={}, actor=bob)
    from db import jobs as job_db

    assert job_db.get_job(con, job)["created_by"] == bob
    other = submit_job(con, kind="noop", spec={}, actor=ana)
    with pytest.raises(access.AccessDenied, match="another person's job"):
        cancel_job(con, other, actor=bob)
    cancel_job(con, job, actor=bob)  # their own
    cancel_job(con, job, actor=ana)  # an admin: anyone's
    assert any(r["what"].startswith("job noop") for r in access.list_activity(con).to_dicts())


def test_local_mode_lets_any_named_actor_write(catalog_con):
    assert access.get_policy() == access.LOCAL
    change = desc.update_active_description(catalog_con, TENCH, text="A fish.", actor="ana")
    assert change.revision == 1
    with pytest.raises(ValueError, match="actor name cannot be empty"):
        desc.update_active_description(catalog_con, TENCH, text="B.", actor=" ")


def test_cli_users_commands_act_as_local_admin(team, db_path, capsys):
    con, ana, bob = team
    con.close()
    assert workbench(["users", "set-role", "bob@example.org", "curator", "--db", str(db_path)]) == 0
    assert workbench(["users", "set-role", "bob@example.org", "boss", "--db", str(db_path)]) == 2
    assert "valid roles" in capsys.readouterr().err
    assert workbench(["users", "remove", "ana@example.org", "--db", str(db_path)]) == 2
    assert "last admin" in capsys.readouterr().err
    assert workbench(["users", "list", "--db", str(db_path)]) == 0
    assert "curator" in capsys.readouterr().out


GOOD = {
    "auth": {
        "redirect_uri": "http://localhost:8617/oauth2callback",
        "cookie_secret": "x" * 40,
        "client_id": "workbench",
        "client_secret": "s",
        "server_metadata_url": f"{ISSUER}/.well-known/openid-configuration",
    },
    "workbench": {"admins": ["ana@example.org"], "invite_only": False},
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"auth": None}, "no [auth] section"),
        ({"auth": {**GOOD["auth"], "client_id": ""}}, "missing client_id"),
        ({"auth": {**GOOD["auth"], "redirect_uri": "http://localhost:8617/"}}, "oauth2callback"),
        ({"auth": {**GOOD["auth"], "cookie_secret": "short"}}, "cookie_secret"),
        ({"workbench": {"admins": []}}, "first admin"),
        ({"workbench": {"admins": ["a@b"], "invite_only": "yes"}}, "invite_only"),
    ],
)
def test_auth_config_problems_are_one_line(change, message):
    assert check_auth_config(GOOD, port=8617) is None
    problem = check_auth_config({**GOOD, **change}, port=8617)
    assert message in problem and "\n" not in problem
    assert "port 8617" in check_auth_config(GOOD, port=8501)


def test_load_auth_config_and_run_refuse_a_broken_file(tmp_path, db_path, capsys):
    broken = tmp_path / "auth.toml"
    broken.write_text("[auth\nclient_id = 1", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_auth_config(broken)
    code = workbench(
        ["run", "--db", str(db_path), "--create", "--auth-config", str(broken), "--port", "8617"]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not valid TOML" in err


def test_a_provider_that_does_not_answer_is_one_line():
    problem = check_provider("http://127.0.0.1:9/.well-known/openid-configuration", timeout_s=2)
    assert "does not answer" in problem and "\n" not in problem
