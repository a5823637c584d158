"""The rows an import refused: read back from quarantine, and written out as files to correct.

`rejects.<format>` holds the refused rows exactly as the source gave them (a CSV with the
source's header line, in the source's encoding), ready to be corrected and imported again
under the same mapping — a corrected row taken in marks its quarantined original resolved.
`rejects.txt` says, line by line, what was wrong. Both are rewritten from the quarantine
table, so they are whole even after an import resumed from a crash.
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, select

from cases.db import Database
from cases.errors import NotFound
from cases.models_intake import ImportRun, QuarantinedRow


def quarantined(db: Database, import_id: str) -> list[QuarantinedRow]:
    with db.read_session() as session:
        if session.get(ImportRun, import_id) is None:
            raise NotFound(f"no import {import_id!r}; `riskgate intake import` prints the id")
        return list(session.exec(select(QuarantinedRow).where(
            QuarantinedRow.import_id == import_id).order_by(col(QuarantinedRow.record))).all())


def write_rejects(db: Database, imports_dir: Path, import_id: str) -> list[Path]:
    """Write the import's rejects files (the data file in the source's encoding, so it is
    imported again under the same mapping); none when nothing was refused."""
    rows = quarantined(db, import_id)
    if not rows:
        return []
    with db.read_session() as session:
        run = session.get(ImportRun, import_id)
        assert run is not None
        fmt, header, encoding = run.format, run.header, run.encoding
    folder = imports_dir / import_id
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"rejects.{fmt}"
    with data.open("w", encoding=encoding, errors="replace", newline="") as out:
        if fmt == "csv" and header:
            out.write(header + "\n")
        if fmt == "json":
            out.write("[\n" + ",\n".join(r.raw for r in rows) + "\n]\n")
        else:
            out.writelines(r.raw.rstrip("\r\n") + "\n" for r in rows)
    notes = folder / "rejects.txt"
    with notes.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(f"line {row.line}" + (f" ({row.reference})" if row.reference else "")
                      + ": " + "; ".join(row.problems) + "\n")
    return [data, notes]
