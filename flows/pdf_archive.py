"""PDF archive copies of gate reports: made with the report, or later in bulk.

With the report (`stage_copy`, called by flows/gates/common.py `write_report`): the staged .docx
is converted to a staged PDF before the gate commits, so the commit records and places both or
neither. LibreOffice failing or overrunning its timeout never costs the gate its commit: the
report is committed without a PDF, a warning is logged and the gate's audit event says why
(`report_pdf_error`); `riskgate report archive` makes the missing copies later (`archive_missing`),
many per LibreOffice call. It converts a copy of each .docx whose bytes it checked against the
manifest, so a changed report is never given a PDF that would vouch for it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cases import pdf_copies
from cases.commits import StagedFile
from cases.config import Settings
from cases.db import Database
from cases.errors import InvalidInput
from cases.models import STAGING_DIR, ReportRecord
from reports.archive import ConversionFailed, soffice_path, to_pdf, to_pdfs

log = logging.getLogger("riskgate.reports")
BATCH = 40  # reports per LibreOffice call: ~1 s start-up shared, a bounded time per call


@dataclass(frozen=True)
class StagedCopy:
    pdf: StagedFile | None = None
    error: str | None = None  # why there is none, when one was wanted


@dataclass(frozen=True)
class Archived:
    """What `archive_missing` did with one report."""

    case_id: str
    gate: str
    round: int
    report: str
    status: str  # archived | failed | skipped
    pdf: str | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"case_id": self.case_id, "gate": self.gate, "round": self.round,
                "report": self.report, "status": self.status, "pdf": self.pdf,
                "reason": self.reason}


def pdf_path_of(relative_docx: str) -> str:
    return str(Path(relative_docx).with_suffix(".pdf"))


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _copy_of(pdf: Path, relative_docx: str) -> StagedFile:
    return StagedFile(path=pdf_path_of(relative_docx), staged=pdf, sha256=_digest(pdf),
                   size=pdf.stat().st_size)


def stage_copy(settings: Settings, staged_docx: Path, relative_docx: str) -> StagedCopy:
    """The staged report's PDF copy, staged beside it (`<name>.<run>.pdf`), if the settings want
    one: none when off, or when auto finds no LibreOffice; an error (logged) if it failed."""
    if settings.pdf_archive == "off":
        return StagedCopy()
    command = soffice_path()
    if command is None and settings.pdf_archive == "auto":
        return StagedCopy()
    try:
        pdf = to_pdf(staged_docx, staged_docx.parent, soffice=command)
    except ConversionFailed as exc:
        reason = str(exc)[:400]
        log.warning("report %s committed without its PDF copy (`riskgate report archive` makes "
                    "it later): %s", relative_docx, reason)
        return StagedCopy(error=reason)
    return StagedCopy(pdf=_copy_of(pdf, relative_docx))


def archive_missing(settings: Settings, db: Database, *, actor: str,
                    case_id: str | None = None,
                    progress: Callable[[Archived], None] = lambda _: None) -> list[Archived]:
    """Make and record the PDF copy of every committed report that has none (of one case, if
    named), converting BATCH reports per LibreOffice call. Runs whatever RISKGATE_PDF_ARCHIVE
    says (it is asked for); without LibreOffice it is refused before anything is done."""
    waiting = pdf_copies.without_pdf(db, case_id)
    if not waiting:
        return []
    command = soffice_path()
    if command is None:
        raise InvalidInput("LibreOffice is not installed (no soffice or libreoffice on PATH): "
                           "install it (Debian: libreoffice-writer-nogui) to make PDF copies")
    done: list[Archived] = []
    for start in range(0, len(waiting), BATCH):
        for result in _archive_batch(settings, db, waiting[start:start + BATCH], command, actor):
            progress(result)
            done.append(result)
    return done


def _result(row: ReportRecord, status: str, pdf: str | None = None,
            reason: str = "") -> Archived:
    return Archived(row.case_id, row.gate, row.round, row.path, status, pdf, reason)


def _archive_batch(settings: Settings, db: Database, rows: list[ReportRecord], command: str,
                   actor: str) -> list[Archived]:
    home = settings.home
    results: list[Archived] = []
    with tempfile.TemporaryDirectory(prefix="riskgate-archive-") as work:
        inputs: dict[Path, ReportRecord] = {}
        for row in rows:
            copy = Path(work) / "in" / f"{row.id}.docx"
            problem = _copy_checked(home, row, copy)
            if problem:
                results.append(_result(row, "skipped", reason=problem))
            else:
                inputs[copy] = row
        try:
            batch = to_pdfs(list(inputs), Path(work) / "out", soffice=command)
        except ConversionFailed as exc:
            return results + [_result(row, "failed", reason=str(exc)[:400])
                              for row in inputs.values()]
        for docx, row in inputs.items():
            made = batch.pdfs.get(docx)
            if made is None:
                tail = batch.output.strip()[-300:]
                results.append(_result(row, "failed", reason="LibreOffice made no PDF"
                                       + (f": {tail}" if tail else "")))
                continue
            results.append(_record(home, db, row, made, actor))
    return results


def _copy_checked(home: Path, row: ReportRecord, copy: Path) -> str:
    """Copy the report's .docx for conversion; a reason not to, if it is not the file its
    manifest row describes."""
    reports = (home / "reports").resolve()
    source = (home / row.path).resolve()
    if not source.is_relative_to(reports) or not source.is_file():
        return "the .docx is missing (riskgate audit verify says more)"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, copy)
    if _digest(copy) != row.sha256:
        return "the .docx does not match its manifest entry (riskgate audit verify says more)"
    return ""


def _record(home: Path, db: Database, row: ReportRecord, made: Path, actor: str) -> Archived:
    assert row.id is not None
    final = home / row.path
    staged = final.parent / STAGING_DIR / f"{final.stem}.{uuid.uuid4().hex[:12]}.pdf"
    staged.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(made, staged)  # the temporary directory may be on another file system
    copy = _copy_of(staged, row.path)
    try:
        recorded = pdf_copies.record(db, home, row.id, copy, actor)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    if not recorded:
        return _result(row, "skipped", reason="another run recorded its PDF meanwhile")
    return _result(row, "archived", pdf=copy.path)
