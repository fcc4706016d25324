"""Every chapter opens with 3-5 learning objectives and closes with a summary that answers them.

The summary answers the objectives one by one: its bullet list has one item per objective,
in the same order (issue 11, section 3).
"""

import re

import pytest
from conftest import ROOT, notebook_chapters

OPENING = "By the end of the chapter you should be able to"


def top_level_items(text: str, marker: str) -> list[str]:
    """First lines of the list items that start at column 0 with `marker` (a regex)."""
    return [line for line in text.splitlines() if re.match(marker, line)]


def section(text: str, heading: str) -> str:
    """The text of a level-2 section, up to the next level-2 heading."""
    match = re.search(rf"^## {heading}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    return match.group(1) if match else ""


def objectives(text: str) -> list[str]:
    """The numbered list right after the opening phrase (blank lines allowed, nothing else)."""
    start = text.index(OPENING) + len(OPENING)
    items, seen_item = [], False
    for line in text[start:].splitlines()[1:]:
        if re.match(r"\d+\. ", line):
            items.append(line)
            seen_item = True
        elif line.startswith("   ") or (not line.strip() and not seen_item):
            continue  # an item's continuation, or the blank line before the list
        else:
            break
    return items


@pytest.mark.parametrize("chapter", notebook_chapters())
def test_chapter_opens_with_objectives_and_closes_with_a_summary_that_answers_them(chapter):
    text = (ROOT / f"{chapter}.md").read_text()
    assert OPENING in text, f"{chapter}: no learning objectives ('{OPENING} ...')"
    assert text.index(OPENING) < text.index("\n## "), f"{chapter}: objectives come after the first section"
    goals = objectives(text)
    assert 3 <= len(goals) <= 5, f"{chapter}: {len(goals)} learning objectives; give 3 to 5"
    assert [g.split(".")[0] for g in goals] == [str(i) for i in range(1, len(goals) + 1)]
    summary = section(text, "Summary")
    assert summary, f"{chapter}: no '## Summary' section"
    answers = top_level_items(summary, r"- \*\*")
    assert len(answers) == len(goals), (
        f"{chapter}: the summary has {len(answers)} bullets for {len(goals)} objectives; "
        "answer each objective in one bullet, in order")
    assert text.index("## Summary") > text.rindex(OPENING)
    later = [h for h in re.findall(r"^## (.+)$", text.split("## Summary", 1)[1], flags=re.M)]
    assert later in ([], ["Exercises"]), f"{chapter}: after the summary comes {later}"


def test_every_chapter_is_checked():
    chapters = notebook_chapters()
    assert len(chapters) == 15, chapters
