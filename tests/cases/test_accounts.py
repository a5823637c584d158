"""Accounts: names, roles and Argon2 passwords; sign-in with failures rate-limited; what each
role may do; every change audited under the one who made it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from cases import accounts, audit, sessions
from cases.errors import InvalidInput, NotFound
from cases.models import AuditEvent, utcnow
from cases.models_oversight import Account
from cases.roles import ACTIONS, READING, ROLES, Action

PASSWORD = "correct horse battery"


def test_an_account_keeps_an_argon2_hash_and_its_roles_in_the_tables_order(settings, db):
    person = accounts.add(db, "li.ming", ["approver", "staff", "staff"], by="local:root",
                          password=PASSWORD, email="li.ming@centre.example")
    assert person.roles == {"staff", "approver"} and person.actor == "user:li.ming"
    with db.read_session() as session:
        row = session.get(Account, "li.ming")
        event = session.exec(select(AuditEvent).where(
            AuditEvent.action == "account.added")).one()
    assert row.roles == ["staff", "approver"]
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert event.actor == "local:root" and "account:li.ming" in event.detail["records"]
    assert PASSWORD not in str(event.detail)
    assert audit.verify(db, settings.home).ok


@pytest.mark.parametrize(("name", "roles", "password", "email", "message"), [
    ("Li Ming", ["staff"], PASSWORD, "", "use lower-case letters"),
    ("x" * 65, ["staff"], PASSWORD, "", "at most 64"),
    ("riskgate-bot", ["staff"], PASSWORD, "", "the system's own"),
    ("ok", [], PASSWORD, "", "at least one role"),
    ("ok", ["root"], PASSWORD, "", "unknown role 'root'"),
    ("ok", ["staff"], "short", "", "at least 10 characters"),
    ("ok", ["staff"], "line\nbreak pw", "", "no control characters"),
    ("ok", ["staff"], PASSWORD, "not-an-address", "is not an address"),
])
def test_a_malformed_account_is_refused_with_nothing_stored(db, name, roles, password, email,
                                                            message):
    with pytest.raises(InvalidInput, match=message):
        accounts.add(db, name, roles, by="local:root", password=password, email=email)
    assert accounts.listing(db) == []


def test_a_taken_name_is_refused(db):
    accounts.add(db, "wang", ["staff"], by="local:root", password=PASSWORD)
    with pytest.raises(InvalidInput, match="exists already"):
        accounts.add(db, "wang", ["auditor"], by="local:root", password=PASSWORD)
    assert accounts.find(db, "wang").roles == {"staff"}


def test_sign_in_takes_the_right_password_only(db):
    accounts.add(db, "wang", ["staff"], by="local:root", password=PASSWORD)
    assert accounts.sign_in(db, "wang", PASSWORD).name == "wang"
    assert accounts.sign_in(db, "wang", PASSWORD + "x") is None
    assert accounts.sign_in(db, "nobody", PASSWORD) is None
    accounts.add(db, "cli-only", ["staff"], by="local:root", password=None)
    assert accounts.sign_in(db, "cli-only", "") is None  # no password: no web sign-in


def test_failed_sign_ins_lock_the_name_out_for_the_window_even_with_the_right_password(db):
    accounts.add(db, "wang", ["staff"], by="local:root", password=PASSWORD)
    now = utcnow()
    for _ in range(accounts.FAILURES_BY_NAME):
        assert accounts.sign_in(db, "wang", "guess-guess", remote="10.0.0.9", now=now) is None
    with pytest.raises(accounts.TooManyAttempts, match="try again in 15 minutes"):
        accounts.sign_in(db, "wang", PASSWORD, remote="10.0.0.8", now=now)
    later = now + accounts.FAILURE_WINDOW + timedelta(seconds=1)
    assert accounts.sign_in(db, "wang", PASSWORD, remote="10.0.0.8", now=later) is not None


def test_failed_sign_ins_from_one_address_lock_it_out_across_names(db):
    accounts.add(db, "wang", ["staff"], by="local:root", password=PASSWORD)
    now = utcnow()
    for n in range(accounts.FAILURES_BY_ADDRESS):
        accounts.sign_in(db, f"guess{n}", "guess-guess", remote="10.0.0.66", now=now)
    with pytest.raises(accounts.TooManyAttempts):
        accounts.sign_in(db, "wang", PASSWORD, remote="10.0.0.66", now=now)
    assert accounts.sign_in(db, "wang", PASSWORD, remote="10.0.0.7", now=now) is not None


def test_disabling_an_account_ends_its_sessions_and_its_sign_in(db):
    accounts.add(db, "wang", ["staff"], by="local:root", password=PASSWORD)
    token, _ = sessions.start(db, kind="account", subject="wang", lang="zh")
    accounts.update(db, "wang", by="user:admin", active=False)
    assert sessions.find(db, token) is None
    assert accounts.find(db, "wang") is None
    assert accounts.sign_in(db, "wang", PASSWORD) is None
    with pytest.raises(NotFound, match="no such active account"):
        accounts.acting(db, "wang", Action.OPEN_CASE)


def test_the_cli_acts_as_an_account_with_its_roles(db):
    accounts.add(db, "wang", ["auditor"], by="local:root", password=None)
    with pytest.raises(InvalidInput, match="--as NAME"):
        accounts.acting(db, None, Action.OPEN_CASE)
    with pytest.raises(accounts.Refused, match="needs the role staff"):
        accounts.acting(db, "wang", Action.OPEN_CASE)
    assert accounts.acting(db, "wang", Action.READ_AUDIT).name == "wang"


def test_auditors_may_only_read_and_each_action_names_its_roles():
    assert set(ACTIONS) == set(Action)
    for action, roles in ACTIONS.items():
        assert roles <= set(ROLES)
        assert ("auditor" in roles) == (action in READING)
    assert ACTIONS[Action.DECIDE_DISPOSAL] == {"approver"}
