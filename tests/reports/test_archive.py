"""reports/archive.py: LibreOffice found on PATH, a real conversion (two at once, each with its
own profile), and every way it fails: a non-zero exit with what LibreOffice printed, no PDF
despite exit 0, and a hang killed at the timeout."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from docx import Document

from reports.archive import ConversionFailed, soffice_path, to_pdf, to_pdfs
from tests.tools import require_tool


def fake_soffice(folder: Path, body: str, name: str = "soffice") -> Path:
    """A stand-in LibreOffice: a shell script on a PATH of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return script


def sample_docx(path: Path, text: str) -> Path:
    document = Document()
    document.add_heading(text, level=1)
    document.add_paragraph("风险监测 · archive copy test")
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    return path


def test_soffice_is_found_as_soffice_or_libreoffice(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert soffice_path() is None
    other = fake_soffice(tmp_path / "bin", "exit 0", name="libreoffice")
    monkeypatch.setenv("PATH", str(other.parent))
    assert soffice_path() == str(other)


def test_two_conversions_at_once_each_make_their_pdf(tmp_path):
    require_tool("soffice")
    pdftotext = require_tool("pdftotext")
    import subprocess

    made: dict[str, Path] = {}
    errors: list[BaseException] = []

    def convert(label: str) -> None:
        try:
            docx = sample_docx(tmp_path / label / f"{label}.docx", f"Report {label}")
            made[label] = to_pdf(docx, tmp_path / "out" / label)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=convert, args=(label,)) for label in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for label, pdf in made.items():
        assert pdf == tmp_path / "out" / label / f"{label}.pdf"
        text = subprocess.run([pdftotext, "-enc", "UTF-8", str(pdf), "-"], check=True,
                              capture_output=True, text=True).stdout
        assert f"Report {label}" in text and "风险监测" in text
        assert list(pdf.parent.iterdir()) == [pdf]  # nothing else left in out_dir


def test_a_failing_libreoffice_is_an_error_carrying_what_it_said(tmp_path):
    script = fake_soffice(tmp_path / "bin", "echo 'boom: the filter crashed' >&2; exit 1")
    docx = sample_docx(tmp_path / "a.docx", "A")
    with pytest.raises(ConversionFailed, match=r"exited with status 1.*boom: the filter") as e:
        to_pdf(docx, tmp_path / "out", soffice=str(script))
    assert "boom: the filter crashed" in e.value.output
    assert not (tmp_path / "out" / "a.pdf").exists()


def test_exit_zero_without_a_pdf_is_an_error_and_a_batch_names_what_is_missing(tmp_path):
    # LibreOffice's own way of failing: "Error: source file could not be loaded", exit 0
    script = fake_soffice(tmp_path / "bin", "echo 'Error: source file could not be loaded'")
    docx = sample_docx(tmp_path / "a.docx", "A")
    with pytest.raises(ConversionFailed, match=r"made no PDF of a\.docx.*could not be loaded"):
        to_pdf(docx, tmp_path / "out", soffice=str(script))
    other = sample_docx(tmp_path / "b.docx", "B")
    batch = to_pdfs([docx, other], tmp_path / "out", soffice=str(script))
    assert batch.pdfs == {} and batch.missing == (docx, other)
    with pytest.raises(ValueError, match="names must differ"):
        to_pdfs([docx, tmp_path / "x" / "a.docx"], tmp_path / "out", soffice=str(script))


def test_a_hanging_libreoffice_is_killed_at_the_timeout(tmp_path):
    pid_file = tmp_path / "pid"
    script = fake_soffice(tmp_path / "bin", f"echo $$ > {pid_file}; sleep 60 & wait")
    docx = sample_docx(tmp_path / "a.docx", "A")
    started = time.monotonic()
    with pytest.raises(ConversionFailed, match="did not finish within 1 s"):
        to_pdf(docx, tmp_path / "out", timeout=1, soffice=str(script))
    assert time.monotonic() - started < 10
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # it and its children are gone
        os.kill(pid, 0)


def test_missing_libreoffice_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ConversionFailed, match="LibreOffice is not installed"):
        to_pdf(sample_docx(tmp_path / "a.docx", "A"), tmp_path / "out")
