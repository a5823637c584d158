"""The report markup: block types, tables and header rows, escapes, bold, and value escaping."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.markup import (
    Bullet,
    Heading,
    Note,
    Paragraph,
    Span,
    Table,
    parse,
    parse_inline,
    plain,
    strip,
)
from reports.templating import Raw, clean_text, escape


def texts(blocks) -> list[str]:
    return [plain(block.content) for block in blocks]


# ── Block types ──────────────────────────────────────────────────────────────────────────────


def test_headings_levels_1_to_3():
    blocks = parse("# One\n## Two\n### Three\n")
    assert blocks == [Heading(1, (Span("One"),)), Heading(2, (Span("Two"),)),
                      Heading(3, (Span("Three"),))]


@pytest.mark.parametrize("line", ["#### Four", "#hashtag", "-dash", ">quote", "---"])
def test_almost_markers_are_paragraphs(line):
    assert parse(line) == [Paragraph((Span(line),))]


def test_bullet_note_and_paragraphs():
    blocks = parse("- item one\n-   item two\n> a note\nplain text\nmore text")
    assert [type(b) for b in blocks] == [Bullet, Bullet, Note, Paragraph, Paragraph]
    assert texts(blocks) == ["item one", "item two", "a note", "plain text", "more text"]


def test_blank_lines_ignored_and_lines_stripped():
    blocks = parse("\n\n   first  \n\t\n  second\n\n")
    assert blocks == [Paragraph((Span("first"),)), Paragraph((Span("second"),))]


def test_marker_alone_is_an_empty_block():
    # `- {{ v }}` with an empty v must stay a bullet, not turn into a paragraph "-".
    assert parse("-\n#\n>") == [Bullet(()), Heading(1, ()), Note(())]


def test_crlf_line_endings():
    assert texts(parse("a\r\nb\rc")) == ["a", "b", "c"]


# ── Tables ───────────────────────────────────────────────────────────────────────────────────


def test_consecutive_rows_form_one_table_with_header():
    blocks = parse("| Key | Value |\n| --- | :---: |\n| a | 1 |\n| b | 2 |\n")
    assert len(blocks) == 1
    table = blocks[0]
    assert isinstance(table, Table)
    assert table.header_rows == 1
    assert [[plain(c) for c in row] for row in table.rows] == [
        ["Key", "Value"], ["a", "1"], ["b", "2"]]


def test_table_without_separator_has_no_header():
    (table,) = parse("| a | b |\n| c | d |")
    assert table.header_rows == 0 and len(table.rows) == 2


def test_two_header_rows_and_alignment_colons():
    (table,) = parse("| h1 | h2 |\n| g1 | g2 |\n|:---|---:|\n| x | y |")
    assert table.header_rows == 2
    assert len(table.rows) == 3


def test_short_dashes_are_not_a_separator():
    (table,) = parse("| h |\n| -- |\n| x |")
    assert table.header_rows == 0
    assert [plain(row[0]) for row in table.rows] == ["h", "--", "x"]


def test_tables_split_by_blank_line_or_paragraph():
    blocks = parse("| a |\n\n| b |\ntext\n| c |")
    assert [type(b) for b in blocks] == [Table, Table, Paragraph, Table]


def test_ragged_rows_and_empty_cells():
    (table,) = parse("| a | b | c |\n| d |\n||")
    assert table.columns == 3
    assert [[plain(c) for c in row] for row in table.rows] == [["a", "b", "c"], ["d"], [""]]


def test_row_needs_closing_pipe():
    assert parse("| a | b") == [Paragraph((Span("| a | b"),))]
    assert parse("| a \\|") == [Paragraph((Span("| a |"),))]


# ── Escapes and bold ─────────────────────────────────────────────────────────────────────────


def test_escaped_marker_at_line_start_is_a_paragraph():
    assert parse("\\# not a heading") == [Paragraph((Span("# not a heading"),))]
    assert parse("\\- not a bullet") == [Paragraph((Span("- not a bullet"),))]
    assert parse("\\> not a note") == [Paragraph((Span("> not a note"),))]
    assert parse("\\| not | a row \\|") == [Paragraph((Span("| not | a row |"),))]


def test_escaped_pipe_inside_cell():
    (table,) = parse("| a \\| b | c |")
    assert [plain(c) for c in table.rows[0]] == ["a | b", "c"]


def test_line_break_and_literal_backslash():
    assert parse("one\\ntwo") == [Paragraph((Span("one\ntwo"),))]
    assert parse("C:\\\\new") == [Paragraph((Span("C:\\new"),))]
    assert parse("trailing \\") == [Paragraph((Span("trailing \\"),))]


def test_escaped_trailing_whitespace_survives_strip():
    assert strip("  a\\  ") == "a\\ "
    assert strip("a\\\\  ") == "a\\\\"  # an escaped backslash does not escape the space
    assert parse("- x\\ ") == [Bullet((Span("x "),))]


def test_bold_spans():
    assert parse_inline("a **b** c") == (Span("a "), Span("b", bold=True), Span(" c"))
    assert parse_inline("**all**") == (Span("all", bold=True),)
    assert parse_inline("\\*\\*not\\*\\*") == (Span("**not**"),)


def test_unpaired_bold_marker_is_literal():
    assert parse_inline("**a** b **c") == (Span("a", bold=True), Span(" b **c"))


def test_bold_in_bullets_notes_and_cells():
    bullet, note, table = parse("- **b** x\n> n **y**\n| **h** | v |")
    assert bullet.content[0] == Span("b", bold=True)
    assert note.content[1] == Span("y", bold=True)
    assert table.rows[0][0] == (Span("h", bold=True),)


# ── Value escaping ───────────────────────────────────────────────────────────────────────────


def test_escape_basics():
    assert escape(None) == "—"
    assert escape(42) == "42"
    assert escape(-1) == "\\-1"
    assert escape("a|b") == "a\\|b"
    assert escape("line1\r\nline2\rline3\nline4") == "line1\\nline2\\nline3\\nline4"
    assert escape("nul\x00bell\x07\x0b\x0c\x1f\ufffe\ud800ok\ttab") == "nulbellok\ttab"
    assert escape(Raw("**trusted**")) == "**trusted**"


def test_escape_escapes_only_markup_and_edge_whitespace():
    assert escape("# **x**") == "\\# \\*\\*x\\*\\*"
    assert escape(" a b ") == "\\ a b\\ "
    assert escape("\u3000全角\u3000") == "\\\u3000全角\\\u3000"


def test_clean_text():
    assert clean_text("a\r\nb\x00\x1b") == "a\nb"


# name: (line with the value, block type, the block's text with the value)
CONTEXTS = {
    "paragraph": ("{}", Paragraph, "{}"),
    "bullet": ("- {}", Bullet, "{}"),
    "note": ("> {}", Note, "{}"),
    "heading": ("## {}", Heading, "{}"),
    "inline": ("**label**: {} :suffix", Paragraph, "label: {} :suffix"),
}


@settings(max_examples=400, deadline=None)
@given(value=st.text())
def test_escaped_value_parses_back_exactly(value):
    """Markup level: any text in any position keeps the block structure and reads back intact."""
    expected = clean_text(value)
    for name, (pattern, kind, shown) in CONTEXTS.items():
        line = pattern.format(escape(value))
        blocks = parse(line + "\n")
        if not expected and name == "paragraph":
            assert blocks == []  # an empty value alone on a line is a blank line
            continue
        assert len(blocks) == 1 and isinstance(blocks[0], kind), name
        text = plain(blocks[0].content)
        assert text == shown.format(expected), name
        assert [span.text for span in blocks[0].content if span.bold] == (
            ["label"] if name == "inline" else [])
    (table,) = parse(f"| {escape(value)} | x |\n| --- | --- |\n| {escape(value)} | y |")
    assert table.header_rows == 1
    assert [[plain(c) for c in row] for row in table.rows] == [[expected, "x"], [expected, "y"]]
