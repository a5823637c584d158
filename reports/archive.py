"""PDF archive copies of reports, made by LibreOffice (`soffice --headless --convert-to pdf`).

A .docx is what a centre edits; the PDF is what it files and sends upwards, and what still opens
unchanged in twenty years. LibreOffice is optional: `soffice_path()` says whether it is here.

Each call runs its own LibreOffice with a private profile directory (`-env:UserInstallation`)
in a temporary directory removed afterwards: two conversions sharing the default profile collide
(the second hands its job to the first instance, or fails on the profile's lock), and gate runs
convert concurrently. The output is written to that temporary directory too and only moved to
`out_dir` when LibreOffice has finished, so `out_dir` never holds half a PDF from this module.

Measured here (LibreOffice 7.4.7, 2 cores, a gate report of 1–3 pages): one report takes about
1.2 s, of which about 0.2 s is creating the fresh profile; seven reports in one call take about
1.9 s. So convert many reports in one call (`to_pdfs`), as `riskgate report archive` does.
LibreOffice exits 0 even when it could not load a file: success is the PDF being there.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SOFFICE_NAMES = ("soffice", "libreoffice")
DEFAULT_TIMEOUT = 120.0  # seconds for one report; a batch gets this plus PER_FILE_TIMEOUT each
PER_FILE_TIMEOUT = 20.0
_TAIL_CHARS = 600  # of LibreOffice's output, in an error


class ConversionFailed(RuntimeError):
    """LibreOffice could not make the PDF; `output` holds what it printed (stderr, stdout)."""

    def __init__(self, message: str, output: str = "") -> None:
        self.output = output
        tail = output.strip()[-_TAIL_CHARS:]
        super().__init__(f"{message}" + (f"; LibreOffice said: {tail}" if tail else ""))


@dataclass(frozen=True)
class Batch:
    """What one LibreOffice call made: a PDF per converted .docx, the ones it did not make,
    and its output (why, when it says)."""

    pdfs: dict[Path, Path] = field(default_factory=dict)
    missing: tuple[Path, ...] = ()
    output: str = ""


def soffice_path() -> str | None:
    """LibreOffice's command on PATH (`soffice`, else `libreoffice`), or None."""
    for name in SOFFICE_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def batch_timeout(files: int) -> float:
    return DEFAULT_TIMEOUT + PER_FILE_TIMEOUT * max(files - 1, 0)


def to_pdfs(docxs: Sequence[Path], out_dir: Path, *, timeout: float | None = None,
            soffice: str | None = None) -> Batch:
    """Convert every .docx in one LibreOffice call; each PDF lands in `out_dir` as
    `<stem>.pdf`. Raises ConversionFailed if LibreOffice is missing, fails as a whole (non-zero
    exit) or overruns `timeout` (it is killed); files it could not convert are `missing`."""
    stems = [p.stem for p in docxs]
    if len(set(stems)) != len(stems):
        raise ValueError("to_pdfs: the .docx names must differ (each becomes <stem>.pdf)")
    if not docxs:
        return Batch()
    command = soffice or soffice_path()
    if command is None:
        raise ConversionFailed("LibreOffice is not installed (no soffice or libreoffice on "
                               "PATH)")
    limit = batch_timeout(len(docxs)) if timeout is None else timeout
    with tempfile.TemporaryDirectory(prefix="riskgate-lo-") as work:
        profile, made = Path(work) / "profile", Path(work) / "out"
        output = _run([command, "--headless", "--norestore",
                       f"-env:UserInstallation={profile.as_uri()}", "--convert-to", "pdf",
                       "--outdir", str(made), *[str(p.resolve()) for p in docxs]], limit)
        out_dir.mkdir(parents=True, exist_ok=True)
        pdfs: dict[Path, Path] = {}
        missing: list[Path] = []
        for docx in docxs:
            produced = made / f"{docx.stem}.pdf"
            if not produced.is_file() or produced.stat().st_size == 0:
                missing.append(docx)
                continue
            target = out_dir / produced.name
            shutil.move(produced, target)
            pdfs[docx] = target
    return Batch(pdfs, tuple(missing), output)


def to_pdf(docx: Path, out_dir: Path, *, timeout: float = DEFAULT_TIMEOUT,
           soffice: str | None = None) -> Path:
    """Convert one .docx to `out_dir/<stem>.pdf`; ConversionFailed (with LibreOffice's
    output) if no PDF came of it."""
    batch = to_pdfs([docx], out_dir, timeout=timeout, soffice=soffice)
    if docx not in batch.pdfs:
        raise ConversionFailed(f"LibreOffice made no PDF of {docx.name}", batch.output)
    return batch.pdfs[docx]


def _run(command: list[str], timeout: float) -> str:
    """Run LibreOffice in its own process group, so that a timeout kills it and the
    soffice.bin it started; its output (stderr first), or ConversionFailed."""
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, errors="replace",
                                   start_new_session=True)
    except OSError as exc:
        raise ConversionFailed(f"cannot start LibreOffice ({command[0]}): "
                               f"{exc.strerror}") from None
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        out, err = process.communicate()
        raise ConversionFailed(f"LibreOffice did not finish within {timeout:.0f} s and was "
                               "stopped", (err or "") + (out or "")) from None
    output = (err or "") + (out or "")
    if process.returncode != 0:
        raise ConversionFailed(f"LibreOffice exited with status {process.returncode}", output)
    return output


def _kill_group(process: subprocess.Popen[str]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
