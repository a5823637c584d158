"""The README documents every fact a rulebook may test, so the field tables cannot drift."""

from __future__ import annotations

from rules.schema import fields
from tests.conftest import REPO


def test_readme_lists_every_field():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for kind in ("triage", "disposal"):
        for name in fields(kind):
            assert f"| `{name}` |" in readme, f"README lacks the {kind} field {name}"
