"""Plain text of a report, in reading order, for auditors' tools and tests.

Reads what Word shows rather than the markup the report came from, so a check against this text
checks the delivered file.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from docx import Document
from docx.table import Table
from docx.text.paragraph import Paragraph


def _row_text(row) -> str:
    return " | ".join(cell.text for cell in row.cells)


def docx_text(path: Path | str | BinaryIO) -> str:
    """Body text: one line per paragraph (headings included) and one per table row with cells
    joined by " | ". Line breaks inside a paragraph or cell appear as "\\n", tabs as "\\t"."""
    lines: list[str] = []
    for item in Document(path if hasattr(path, "read") else str(path)).iter_inner_content():
        if isinstance(item, Paragraph):
            lines.append(item.text)
        elif isinstance(item, Table):
            lines.extend(_row_text(row) for row in item.rows)
    return "\n".join(lines)
