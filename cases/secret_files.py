"""Secrets generated once into the data directory, readable by their owner only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def owner_only_secret(path: Path, *, prefix: str = "", min_length: int = 16) -> str:
    """The secret stored at `path`, created at random (owner-only, mode 0600) if it is not
    there. Two processes creating it at once agree: the first to link its file wins."""
    try:
        text = path.read_text(encoding="utf-8").strip()
        if text.startswith(prefix) and len(text) >= len(prefix) + min_length:
            return text
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = prefix + secrets.token_urlsafe(24)
    staged = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    try:
        os.link(staged, path)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    finally:
        staged.unlink()
    return secret
