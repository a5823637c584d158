"""Helpers for tests that need external programs (LibreOffice, poppler, …).

Locally a missing tool skips the test; in CI (CI=true) it fails, so a broken image cannot turn
a real check into a silent skip.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str) -> str:
    """The tool's path, or skip (fail when CI is "true") if it is not on PATH."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (needed by this test)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true, so this is an error, not a skip")
        pytest.skip(message)
    return path
