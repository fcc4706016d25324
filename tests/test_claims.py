"""Every claim in words about a computed value is asserted by the build (issue 11, section 2).

A chapter states a claim about its numbers ("not one slope interval excludes zero", "Catholic
schools are higher and flatter") and, right after the computation, a hidden cell asserts it:

    ```{code-cell} ipython3
    :tags: [remove-cell]

    assert n_slopes_clear == 0, \\
        "schools: sentence 'Not one slope interval excludes zero' is false"
    ```

so a change that makes the sentence false fails the build with a message naming the sentence.
These tests find every such assertion in the chapter sources, report the count per chapter,
and check that the last book build executed each of them.
"""

from __future__ import annotations

import ast
import json
import re

import pytest
from conftest import BUILD, ROOT

# Chapters about the API and the glossary carry no claims about computed values.
EXEMPT = {"api", "glossary"}
CLAIM_CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("*.md") if p.stem not in EXEMPT)

# The number of claim assertions each chapter had when they were added (issue 11). A chapter
# may gain assertions; losing one means a checked sentence went unchecked.
MINIMUM = {
    "bayesian": 27,
    "cces-2016": 22,
    "conditional-models": 27,
    "correlated-effects": 17,
    "fixed-effects": 18,
    "glmm-fitting": 17,
    "levels-and-crossed": 15,
    "model-checking": 32,
    "pooling": 13,
    "random-coefficients": 12,
    "random-effects": 12,
    "schools": 23,
    "structures": 10,
    "varying-intercepts": 9,
    "wage-panel": 18,
}

CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.S | re.M)
REMOVE_CELL = re.compile(r"^:tags:\s*\[[^\]]*\bremove-cell\b[^\]]*\]\s*$", re.M)


def _cells(text: str) -> list[str]:
    return [m.group(1) for m in CELL.finditer(text)]


def _code(cell: str) -> str:
    """The cell's code without its MyST option lines (``:tags: ...``) or a ``---`` header."""
    lines = cell.split("\n")
    if lines and lines[0].strip() == "---":
        end = lines.index("---", 1)
        return "\n".join(lines[end + 1:])
    return "\n".join(line for line in lines if not line.startswith(":"))


def _asserts(code: str) -> list[ast.Assert]:
    return [node for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Assert)]


def claim_assertions(chapter: str) -> list[tuple[str, str | None]]:
    """(condition, message) of every assert in the chapter's remove-cell cells."""
    found = []
    text = (ROOT / "chapters" / f"{chapter}.md").read_text()
    for cell in _cells(text):
        if not REMOVE_CELL.search(cell):
            continue
        for node in _asserts(_code(cell)):
            message = None
            if isinstance(node.msg, ast.Constant) and isinstance(node.msg.value, str):
                message = node.msg.value
            found.append((ast.unparse(node.test), message))
    return found


def claim_messages(chapter: str) -> list[str]:
    return [m for _, m in claim_assertions(chapter) if m and "sentence" in m]


def test_claim_assertions_per_chapter(record_property, capsys):
    counts = {chapter: len(claim_messages(chapter)) for chapter in CLAIM_CHAPTERS}
    for chapter, count in counts.items():
        record_property(f"claims_{chapter}", count)
    with capsys.disabled():
        print("\nclaim assertions per chapter: "
              + ", ".join(f"{c} {n}" for c, n in counts.items())
              + f"; total {sum(counts.values())}")
    assert set(MINIMUM) == set(CLAIM_CHAPTERS), "a chapter was added or removed: update MINIMUM"
    missing = {c: n for c, n in counts.items() if n == 0}
    assert not missing, f"chapters whose claims are not asserted: {sorted(missing)}"
    fewer = {c: (counts[c], MINIMUM[c]) for c in CLAIM_CHAPTERS if counts[c] < MINIMUM[c]}
    assert not fewer, f"chapters that lost claim assertions (found, expected at least): {fewer}"


@pytest.mark.parametrize("chapter", CLAIM_CHAPTERS)
def test_every_claim_assertion_names_its_sentence(chapter):
    """An assertion in a hidden cell must say which sentence it checks, in a fixed form."""
    for condition, message in claim_assertions(chapter):
        assert message is not None, f"{chapter}: `assert {condition}` has no message"
        assert re.fullmatch(rf"{re.escape(chapter)}: sentence '.+'.* is false", message, re.S), (
            f"{chapter}: message of `assert {condition}` does not read "
            f"\"{chapter}: sentence '...' is false\": {message!r}")


def test_message_pattern_is_recognised():
    """The parser finds a tagged assertion and ignores an untagged one (the test can fail)."""
    text = ("```{code-cell} ipython3\n:tags: [remove-cell]\n\nx = 1\n"
            "assert x == 1, \"demo: sentence 'x is one' is false\"\n```\n\n"
            "```{code-cell} ipython3\nassert True, \"demo: sentence 'visible' is false\"\n```\n")
    tagged = [c for c in _cells(text) if REMOVE_CELL.search(c)]
    assert len(tagged) == 1
    (node,) = _asserts(_code(tagged[0]))
    assert node.msg.value == "demo: sentence 'x is one' is false"


@pytest.mark.parametrize("chapter", CLAIM_CHAPTERS)
def test_built_book_executed_every_claim_assertion(chapter):
    """The last build ran each claim cell without an error (the strict build stops on one)."""
    path = BUILD / "jupyter_execute" / "chapters" / f"{chapter}.ipynb"
    if not path.exists():
        pytest.fail(f"{path} is missing: build the book first (make book)")
    notebook = json.loads(path.read_text())
    executed = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        messages = re.findall(r"\"([^\"\n]*: sentence '[^\"\n]*is false)\"", source)
        if not messages:
            continue
        assert cell.get("execution_count") is not None, f"{chapter}: claim cell not executed"
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{chapter}: a claim failed in the build: {errors[0].get('evalue')}"
        executed.extend(messages)
    expected = claim_messages(chapter)
    assert len(expected) >= MINIMUM[chapter] > 0
    assert sorted(executed) == sorted(expected), (
        f"{chapter}: the built notebook's claim assertions differ from the source's; rebuild")
