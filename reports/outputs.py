"""Report files written beside a manifest (the bulletin, the special report): the same data is
never written twice, other data never silently replaces a file.

A manifest (`<base>.manifest.json`) lists the data hash, the template version and each file's
name, SHA-256 and size. Asked again with the same data and template, the files already there
are kept (`kept` returns their digests) — provided each still has the digest listed; a file
changed by hand counts as other data. Anything else in the way is refused unless the caller
asks to overwrite (`refuse_other`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reports.docx_package import write_atomically


@dataclass(frozen=True)
class Written:
    """A one-document report written (or kept) with its manifest."""

    docx: Path
    manifest: Path
    unchanged: bool  # the file was already there with the same data
    data_hash: str
    template_version: str
    sha256: str


def document_paths(out_dir: Path, base: str) -> dict[str, Path]:
    """`<base>.docx` and its manifest `<base>.manifest.json` under `out_dir`."""
    return {"docx": out_dir / f"{base}.docx", "manifest": out_dir / f"{base}.manifest.json"}


class OutputExists(Exception):
    """The files exist with other data; the caller decides how to say so."""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def kept(manifest_path: Path, files: Mapping[str, Path],
         expected: Mapping[str, Any]) -> dict[str, str] | None:
    """The files' digests when the manifest holds `expected` (data hash, template version, …)
    and every file is as it lists it; None otherwise."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if any(manifest.get(key) != value for key, value in expected.items()):
            return None
        listed = {name: manifest["files"][name]["sha256"] for name in files}
        found = {name: sha256(path) for name, path in files.items()}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return found if found == listed else None


def refuse_other(paths: Mapping[str, Path], what: str) -> None:
    """OutputExists when any of the files is there already (with other data)."""
    existing = [p for p in paths.values() if p.exists()]
    if existing:
        raise OutputExists(f"{existing[0]} exists and holds other data ({what})")


def write_manifest(manifest_path: Path, files: Mapping[str, Path],
                   facts: Mapping[str, Any]) -> dict[str, str]:
    """Write the manifest of `files` with `facts` first; returns each file's SHA-256."""
    digests = {name: sha256(path) for name, path in files.items()}
    manifest = {**facts, "files": {name: {"name": path.name, "sha256": digests[name],
                                          "size": path.stat().st_size}
                                   for name, path in files.items()}}
    write_atomically(manifest_path,
                     (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode())
    return digests
