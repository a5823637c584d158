"""What every written .docx shares: reproducible packaging, document properties, atomic writes.

Output is byte-for-byte reproducible (fixed zip timestamps, metadata from the gate time), so the
SHA-256 recorded in the manifest can be re-derived by rendering the same inputs again.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from docx.document import Document as DocxDocument
from docx.oxml import OxmlElement
from docx.oxml.ns import qn

from rules.domain import Lang

AUTHOR = "RiskGate"
LANGUAGE_TAGS: dict[str, str] = {"zh": "zh-CN", "en": "en-US"}
# Fixed zip entry time: python-docx stamps entries with the wall clock, which would make two
# renders of the same report differ.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
PROPERTY_KEYS = frozenset({"created", "modified", "subject", "keywords", "category", "comments",
                           "identifier", "version", "content_status"})


def set_language(rpr: Any) -> None:
    """Latin text is checked as English; CJK text as Simplified Chinese in both report
    languages (product and company names stay Chinese in English reports)."""
    tag = rpr.find(qn("w:lang"))
    if tag is None:
        tag = OxmlElement("w:lang")
        rpr.append(tag)
    tag.set(qn("w:val"), "en-US")
    tag.set(qn("w:eastAsia"), "zh-CN")
    tag.attrib.pop(qn("w:bidi"), None)


def _utc(value: Any, key: str) -> datetime:
    # python-docx writes the wall-clock digits with a "Z" suffix, so convert to UTC first.
    if not isinstance(value, datetime):
        raise TypeError(f"property {key} must be a datetime, got {value!r}")
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def set_properties(document: DocxDocument, *, lang: Lang, title: str,
                   properties: Mapping[str, Any]) -> None:
    """The core properties of a written report (nothing from the template's own)."""
    unknown = set(properties) - PROPERTY_KEYS
    if unknown:
        raise ValueError(f"unknown document properties {sorted(unknown)}; "
                         f"expected some of {sorted(PROPERTY_KEYS)}")
    core = document.core_properties
    core.title = title
    core.author = core.last_modified_by = AUTHOR
    core.language = LANGUAGE_TAGS[lang]
    core.revision = 1
    core.comments = ""
    for key, value in properties.items():
        if key in ("created", "modified"):
            setattr(core, key, _utc(value, key))
        else:
            setattr(core, key, str(value))


def reproducible_zip(data: bytes) -> bytes:
    """Re-pack the package with fixed entry timestamps and permissions, same order."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, source.read(entry))
    return out.getvalue()


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory + fsync + os.replace: readers see the old
    file or the complete new one, never a torn report, even if the process dies midway."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp_name, 0o644)  # mkstemp creates 0600; auditors read reports
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
