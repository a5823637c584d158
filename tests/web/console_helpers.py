"""Signing people in to the web app over HTTP, in-process (the console, audit and admin tests)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from cases import accounts

BASE = "http://127.0.0.1:8000"
PASSWORD = "correct horse battery"
PEOPLE = {"alice": ["staff"], "bob": ["approver"], "carol": ["auditor"], "dave": ["admin"],
          "erin": ["staff", "approver"]}


def add_people(db) -> None:
    for name, roles in PEOPLE.items():
        accounts.add(db, name, roles, by="local:test", password=PASSWORD,
                     email=f"{name}@centre.example")


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def sign_in(app, name: str, password: str = PASSWORD, *, expect: int = 303,
            next_path: str = "") -> TestClient:
    client = TestClient(app, base_url=BASE)
    form = client.get("/login")
    assert form.status_code == 200
    done = client.post("/login", data={"csrf": csrf(form.text), "username": name,
                                       "password": password, "next": next_path},
                       follow_redirects=False)
    assert done.status_code == expect, done.text[:500]
    return client


def errors_of(page: str) -> dict[str, str]:
    """The field errors a page shows: {field: message}."""
    return {name.replace("-", "."): text for name, text in
            re.findall(r'id="error-([^"]+)"[^>]*>([^<]+)<', page)}


def token_of(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text[:300]
    return csrf(page.text)
