"""docs/man/: the corrected move_pages(2) and migrate_pages(2) pages.

Every sentence of RETURN VALUE, ERRORS, NOTES and VERSIONS follows a comment naming the
registry clauses that state it, in exactly this form::

    .\\" clause: move_pages.errno.EPERM.move_all move_pages.errno.EPERM.move_all_before_ESRCH

Outside VERSIONS a page may cite only what holds in the newest release and passed on a
real kernel (a ``pass`` in a ``vm:*`` or ``host:*`` column of docs/kernels.md); VERSIONS
describes the past and may cite any clause. A commit named is a quirk's, and one whose
quirk is ``confirmed=False`` is said to be unconfirmed on its line. The pages render
with ``man -l`` and ``groff -ww`` without a warning; without man-db and groff-base these
tests fail (``apt-get install -y man-db groff-base``), they never skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from conformance.clauses import CLAUSES
from simnuma.abi.quirks import Quirk
from simnuma.profiles import resolve_profile

ROOT = Path(__file__).resolve().parent.parent
MAN_DIR = ROOT / "docs" / "man"
KERNELS_MD = ROOT / "docs" / "kernels.md"
PAGES = ("move_pages.2", "migrate_pages.2")

# man-pages(7) order; EXAMPLES (optional) comes between NOTES and SEE ALSO
HEADINGS = (
    "NAME",
    "LIBRARY",
    "SYNOPSIS",
    "DESCRIPTION",
    "RETURN VALUE",
    "ERRORS",
    "VERSIONS",
    "STANDARDS",
    "HISTORY",
    "NOTES",
    "SEE ALSO",
)
EVERY_SENTENCE_CITED = ("RETURN VALUE", "ERRORS", "NOTES", "VERSIONS")
HISTORICAL = "VERSIONS"  # the one section that may cite what no longer holds

CLAUSE_COMMENT = re.compile(r'^\.\\" clause: ([\w.]+(?: [\w.]+)*)$')
LOOKS_LIKE_CLAUSE_COMMENT = re.compile(r'^\.\\"\s*clauses?\b', re.IGNORECASE)
ERRNO_TAG = re.compile(r"^\.B (E[A-Z0-9]+)$")
HASH = re.compile(r"\b[0-9a-f]{12,40}\b")

PARAGRAPH = (".PP", ".P", ".LP", ".TP", ".TQ", ".IP", ".SS", ".SH")
FONT = (".B", ".I", ".BR", ".BI", ".IB", ".IR", ".RB", ".RI", ".SM", ".SB")
SENTENCE_END = re.compile(r"[.!?][)\"']*$")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: apt-get install -y man-db groff-base", pytrace=False)
    return path


# ---------------------------------------------------------------- reading a page
@dataclass(frozen=True)
class Line:
    number: int
    text: str
    section: str  # the .SH it is under ("" before the first)


@dataclass(frozen=True)
class Citation:
    line: Line
    ids: tuple[str, ...]


@cache
def _lines(page: str) -> tuple[Line, ...]:
    section = ""
    lines = []
    for number, text in enumerate((MAN_DIR / page).read_text().splitlines(), 1):
        if text.startswith(".SH"):
            section = text[3:].strip().strip('"')
        lines.append(Line(number, text, section))
    return tuple(lines)


def _citations(page: str) -> list[Citation]:
    found = []
    for line in _lines(page):
        m = CLAUSE_COMMENT.match(line.text)
        if m:
            found.append(Citation(line, tuple(m[1].split(" "))))
    return found


def _macro(text: str) -> str:
    return text.split(maxsplit=1)[0] if text.startswith((".", "'")) else ""


def _prose(text: str) -> str | None:
    """The words a source line puts on the page, or None for a request or a comment."""
    macro = _macro(text)
    if not macro:
        return text
    if macro in FONT:
        return text[len(macro) :].replace('"', "").strip()
    return None


def _ends_sentence(prose: str) -> bool:
    return bool(SENTENCE_END.search(re.sub(r"\\f(\[\w*\]|\w)", "", prose).rstrip()))


def _blocks(page: str, section: str) -> Iterator[list[Line]]:
    """The paragraphs of a section (a .TP entry's tag line dropped), code left out."""
    block: list[Line] = []
    in_code = tag_pending = False
    for line in (x for x in _lines(page) if x.section == section):
        macro = _macro(line.text)
        if macro == ".EX" or macro == ".EE":
            in_code = macro == ".EX"
        elif in_code:
            continue
        elif macro in PARAGRAPH:
            yield block
            block, tag_pending = [], macro in (".TP", ".TQ")
        elif tag_pending and not line.text.startswith('.\\"'):
            tag_pending = False  # the tag of a .TP entry: not a sentence
        else:
            block.append(line)
    yield block


def _uncited_sentences(page: str, section: str) -> list[str]:
    """Sentences of the section not preceded by a clause comment since the last one."""
    missing = []
    for block in _blocks(page, section):
        cited, at_start = False, True
        for line in block:
            if CLAUSE_COMMENT.match(line.text):
                cited = True
                continue
            prose = _prose(line.text)
            if prose is None:
                continue
            if at_start and not cited:
                missing.append(f"{page}:{line.number}: {line.text}")
            at_start = _ends_sentence(prose)
            if at_start:
                cited = False
    return missing


@dataclass(frozen=True)
class ErrorsEntry:
    tag: Line
    errno: str | None  # None: the tag is not `.B EXXX`
    cited: tuple[str, ...]


def _errors_entries(page: str) -> list[ErrorsEntry]:
    lines = [x for x in _lines(page) if x.section == "ERRORS"]
    starts = [i for i, x in enumerate(lines) if _macro(x.text) == ".TP"]
    entries = []
    for n, start in enumerate(starts):
        body = lines[start + 1 : starts[n + 1] if n + 1 < len(starts) else len(lines)]
        tag = next(x for x in body if not x.text.startswith('.\\"'))
        m = ERRNO_TAG.match(tag.text)
        cited = tuple(i for x in body if (c := CLAUSE_COMMENT.match(x.text)) for i in c[1].split())
        entries.append(ErrorsEntry(tag, m[1] if m else None, cited))
    return entries


# ---------------------------------------------------------------- the facts cited
NEWEST = resolve_profile().release  # the default profile is the newest release


@cache
def _real_kernel_passes() -> dict[str, frozenset[str]]:
    """docs/kernels.md: clause id -> the real-kernel columns (vm:*, host:*) it passes on."""
    header: list[str] = []
    passes: dict[str, frozenset[str]] = {}
    for text in KERNELS_MD.read_text().splitlines():
        if not text.startswith("|"):
            header = []
            continue
        cells = [c.strip() for c in text.strip().strip("|").split("|")]
        if cells[0] == "clause":
            header = cells
        elif header and not set(cells[0]) <= set("-: "):
            assert len(cells) == len(header), f"docs/kernels.md row of {len(cells)} cells: {text}"
            passes[cells[0]] = frozenset(
                column
                for column, cell in zip(header, cells, strict=True)
                if column.startswith(("vm:", "host:")) and cell == "pass"
            )
    assert passes, "docs/kernels.md has no clause table"
    return passes


@cache
def _commits() -> dict[str, list[Quirk]]:
    """Every hash a quirk cites -> the quirks citing it."""
    found: dict[str, list[Quirk]] = {}
    for quirk in Quirk:
        for commit in re.split(r"\.\.| … ", quirk.info.commit):
            if commit:
                found.setdefault(commit, []).append(quirk)
    return found


def _quirks_of(commit: str) -> list[Quirk]:
    """The quirks citing ``commit`` (a page may abbreviate a hash, or spell it out)."""
    known = _commits()
    return [q for h in known if h.startswith(commit) or commit.startswith(h) for q in known[h]]


# ---------------------------------------------------------------- the checks
@pytest.fixture(params=PAGES)
def page(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def test_every_page_is_checked() -> None:
    assert sorted(p.name for p in MAN_DIR.glob("*.[1-8]")) == sorted(PAGES)


def test_title_names_the_page(page: str) -> None:
    name, section = page.rsplit(".", 1)
    titles = [x.text.split()[1:3] for x in _lines(page) if _macro(x.text) == ".TH"]
    assert titles == [[name, section]]


def test_sections_in_man_pages_order(page: str) -> None:
    sections = [x.section for x in _lines(page) if _macro(x.text) == ".SH"]
    assert [s for s in sections if s in HEADINGS] == list(HEADINGS)


def test_clause_comments_are_well_formed(page: str) -> None:
    malformed = [
        f"{page}:{x.number}: {x.text}"
        for x in _lines(page)
        if LOOKS_LIKE_CLAUSE_COMMENT.match(x.text) and not CLAUSE_COMMENT.match(x.text)
    ]
    assert not malformed, malformed
    assert _citations(page)


def test_cited_clauses_exist(page: str) -> None:
    unknown = [f"{c.line.number}: {i}" for c in _citations(page) for i in c.ids if i not in CLAUSES]
    assert not unknown, f"{page} cites clauses not in CLAUSES: {unknown}"


@pytest.mark.parametrize("section", EVERY_SENTENCE_CITED)
def test_every_sentence_cites_a_clause(page: str, section: str) -> None:
    assert any(x.section == section for x in _lines(page)), f"{page} has no {section}"
    uncited = _uncited_sentences(page, section)
    assert not uncited, f"{section}: sentences without a clause comment before them: {uncited}"


def test_errors_entries_are_tagged_and_sorted(page: str) -> None:
    entries = _errors_entries(page)
    assert entries, f"{page}: no .TP entry in ERRORS"
    untagged = [f"{e.tag.number}: {e.tag.text}" for e in entries if e.errno is None]
    assert not untagged, f"ERRORS entries whose tag is not `.B EXXX`: {untagged}"
    errnos = [e.errno for e in entries]
    assert errnos == sorted(errnos, key=str), "ERRORS entries out of alphabetical order"


def test_errors_entries_cite_their_errno(page: str) -> None:
    """Each entry has a clause comment, and one of its clauses names the entry's errno."""
    wrong = [
        f"{e.tag.number}: {e.errno} cites {list(e.cited) or 'nothing'}"
        for e in _errors_entries(page)
        if e.errno is not None and not any(e.errno in i.split(".") for i in e.cited)
    ]
    assert not wrong, wrong


def test_current_sections_cite_what_holds_now(page: str) -> None:
    stale = [
        f"{c.line.number} ({c.line.section}): {i} holds in {CLAUSES[i].releases}"
        for c in _citations(page)
        if c.line.section != HISTORICAL
        for i in c.ids
        if i in CLAUSES and not CLAUSES[i].holds_in(NEWEST)
    ]
    assert not stale, f"{page} cites outside VERSIONS clauses that no longer hold: {stale}"


def test_current_sections_cite_what_passed_on_a_real_kernel(page: str) -> None:
    passes = _real_kernel_passes()
    unproven = [
        f"{c.line.number} ({c.line.section}): {i}"
        for c in _citations(page)
        if c.line.section != HISTORICAL
        for i in c.ids
        if not passes.get(i)
    ]
    assert not unproven, f"{page}: cited outside VERSIONS, no real-kernel pass: {unproven}"


def test_commits_are_the_quirks_and_unconfirmed_ones_say_so(page: str) -> None:
    problems = []
    for line in _lines(page):
        for commit in HASH.findall(line.text):
            quirks = _quirks_of(commit)
            if not quirks:
                problems.append(f"{line.number}: {commit} is no quirk's commit")
            elif not any(q.info.confirmed for q in quirks) and "unconfirmed" not in line.text:
                problems.append(f"{line.number}: {commit} is unconfirmed, and not said to be")
    assert not problems, problems


# ---------------------------------------------------------------- rendering
def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LC_ALL": "C.UTF-8", "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat"}
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_groff_finds_nothing_to_warn_about(page: str) -> None:
    r = _run([_tool("groff"), "-man", "-Tutf8", "-ww", "-z", str(MAN_DIR / page)])
    assert (r.returncode, r.stderr) == (0, "")


def test_man_renders_every_heading(page: str) -> None:
    r = _run([_tool("man"), "--warnings=w", "-l", str(MAN_DIR / page)])
    assert (r.returncode, r.stderr) == (0, "")
    rendered = [x for x in r.stdout.splitlines() if x in HEADINGS]
    assert rendered == list(HEADINGS), r.stdout
