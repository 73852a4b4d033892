"""Every relative link in the repository's Markdown reaches a file, and its #anchor a
heading there, named as GitHub names headings. A renamed heading or a moved file breaks
a link silently otherwise: nothing else reads them."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r'<a (?:name|id)="([^"]+)"')


def _markdown_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if listed.returncode != 0:  # not a git checkout (an sdist): every file there
        return sorted(p for p in ROOT.rglob("*.md") if ".venv" not in p.parts)
    return [ROOT / line for line in listed.stdout.splitlines()]


def _prose(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text without links' targets and Markdown marks,
    lower case, every character but letters, digits, '_', '-' and spaces dropped, spaces
    made '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in _prose(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            found.add(base if count == 0 else f"{base}-{count}")  # GitHub's repeats
            seen[base] = count + 1
        found.update(HTML_ANCHOR.findall(line))
    return frozenset(found)


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    problems = []
    for number, line in _prose(path.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            where, _, fragment = target.partition("#")
            file = (path.parent / where).resolve() if where else path
            name = f"{path.relative_to(root)}:{number}: {target}"
            if not file.exists():
                problems.append(f"{name}: no such file")
            elif fragment and file.suffix == ".md" and fragment not in anchors(file):
                problems.append(f"{name}: no heading with this anchor in {file.relative_to(root)}")
    return problems


def test_the_slug_is_githubs() -> None:
    assert slug("Actions (`type:`): each one typed operation") == (
        "actions-type-each-one-typed-operation"
    )
    assert slug("What Autonomic decided overnight") == "what-autonomic-decided-overnight"
    assert slug('An incident that goes on after a "no"') == "an-incident-that-goes-on-after-a-no"


def test_a_broken_link_and_a_stale_anchor_are_found(tmp_path: Path) -> None:
    (tmp_path / "target.md").write_text("# Part one\n\n## Part one\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Here\n[a](target.md#part-one) [b](target.md#part-one-1) [c](#here)\n"
        "[d](target.md#part-two) [e](nowhere.md) [f](https://example.com/x#y)\n"
        "```\n[g](inside-a-fence.md)\n```\n"
    )
    assert broken_links(page, tmp_path) == [
        "page.md:3: target.md#part-two: no heading with this anchor in target.md",
        "page.md:3: nowhere.md: no such file",
    ]


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    assert broken_links(path) == []
