"""Reading lme4's model formulas: ``y ~ x + (1 + x | g)``.

formulaic reads the fixed part and each random term's left side; what it does not know is
lme4's bar syntax, which this module splits off first (lme4's ``findbars``, ``nobars`` and
``expandDoubleVerts``): any number of terms ``(terms | group)``, uncorrelated terms
``(1 + x || g)``, nested groups ``(1 | a/b)`` = ``(1 | a) + (1 | a:b)``, interaction groups
``(1 | a:b)``, ``offset(...)`` terms and a ``cbind(successes, failures)`` response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from multilevel._checks import MultilevelInputError

__all__ = ["ParsedFormula", "RandomTerm", "parse_formula"]


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(expr | group)``: ``expr`` in formulaic's syntax."""

    expr: str
    group: tuple[str, ...]  # the columns whose combination defines the groups (a:b -> (a, b))

    @property
    def group_name(self) -> str:
        return ":".join(self.group)


@dataclass(frozen=True)
class ParsedFormula:
    """A formula split into response, fixed part, random terms and offsets."""

    formula: str
    response: str | None  # an expression for formulaic, or None for cbind
    cbind: tuple[str, str] | None  # (successes, failures) expressions
    fixed: str  # right-hand side for formulaic, without bars and offsets
    random: tuple[RandomTerm, ...]
    offsets: tuple[str, ...]  # expressions inside offset(...)


def _split_top_level(text: str, separator: str) -> list[str]:
    """Split ``text`` on ``separator`` where it is outside every parenthesis."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise MultilevelInputError(f"unbalanced parentheses in {text!r}.")
        elif depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            start = i + len(separator)
    if depth != 0:
        raise MultilevelInputError(f"unbalanced parentheses in {text!r}.")
    parts.append(text[start:])
    return parts


def _strip_outer(text: str) -> str | None:
    """``"(a | b)"`` -> ``"a | b"``; None if ``text`` is not one parenthesised group."""
    text = text.strip()
    if not (text.startswith("(") and text.endswith(")")):
        return None
    depth = 0
    for i, char in enumerate(text):
        depth += char == "("
        depth -= char == ")"
        if depth == 0 and i < len(text) - 1:
            return None
    return text[1:-1]


def _expand_groups(group: str, formula: str) -> list[tuple[str, ...]]:
    """``a/b/c`` -> a, b:a, c:b:a (lme4's names); ``a:b`` -> one group of two columns."""
    nested = [part.strip() for part in group.split("/")]
    out = []
    for depth in range(1, len(nested) + 1):
        # lme4 names the inner levels first: (1 | batch/cask) -> batch and cask:batch.
        pieces = nested[:depth] if depth == 1 else nested[:depth][::-1]
        columns = tuple(c.strip() for piece in pieces for c in piece.split(":"))
        if not all(re.fullmatch(r"[A-Za-z_.][\w.]*", c) for c in columns):
            raise MultilevelInputError(
                f"grouping factor {group!r} in {formula!r} must be column names joined by ':' "
                "or '/', e.g. (1 | school) or (1 | school/class)."
            )
        out.append(columns)
    return out


def _uncorrelated(expr: str) -> list[str]:
    """lme4's ``expandDoubleVerts``: ``1 + x + z`` -> ``1``, ``0 + x``, ``0 + z``."""
    pieces = [p.strip() for p in _split_top_level(expr, "+") if p.strip()]
    has_intercept = not any(p in ("0", "-1") for p in pieces)
    terms = [p for p in pieces if p not in ("0", "1", "-1")]
    return (["1"] if has_intercept else []) + [f"0 + {t}" for t in terms]


def parse_formula(formula: str) -> ParsedFormula:
    """Split an lme4 formula into its parts.

    Examples
    --------
    >>> parsed = parse_formula("y ~ x + (1 + x || g) + (1 | a/b) + offset(log(t))")
    >>> [(t.expr, t.group_name) for t in parsed.random]
    [('1', 'g'), ('0 + x', 'g'), ('1', 'a'), ('1', 'b:a')]
    >>> parsed.fixed, parsed.offsets
    ('x', ('log(t)',))
    """
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise MultilevelInputError(
            f"the formula must be a string with one '~', like 'y ~ x + (1 | group)'; got {formula!r}."
        )
    lhs, rhs = (side.strip() for side in formula.split("~"))
    if not lhs:
        raise MultilevelInputError(f"the formula {formula!r} has no response on the left of '~'.")
    cbind = None
    match = re.fullmatch(r"cbind\((.*)\)", lhs)
    if match:
        parts = [p.strip() for p in _split_top_level(match.group(1), ",")]
        if len(parts) != 2 or not all(parts):
            raise MultilevelInputError(
                f"cbind() in {formula!r} takes two columns: cbind(successes, failures)."
            )
        cbind = (parts[0], parts[1])
    fixed, random, offsets = [], [], []
    for piece in _split_top_level(rhs, "+"):
        piece = piece.strip()
        if not piece:
            continue
        inner = _strip_outer(piece)
        if inner is not None and ("|" in inner):
            double = _split_top_level(inner, "||")
            if len(double) == 2:
                expr, group, correlated = double[0], double[1], False
            else:
                single = _split_top_level(inner, "|")
                if len(single) != 2:
                    raise MultilevelInputError(
                        f"the random term {piece!r} in {formula!r} must look like (terms | group)."
                    )
                expr, group, correlated = single[0], single[1], True
            expr = expr.strip() or "1"
            exprs = [expr] if correlated else _uncorrelated(expr)
            for columns in _expand_groups(group.strip(), formula):
                random.extend(RandomTerm(e, columns) for e in exprs)
            continue
        if "|" in piece:
            raise MultilevelInputError(
                f"{piece!r} in {formula!r} has a bar '|' outside parentheses. Random-effects terms "
                "go in parentheses: write (Days | Subject), not Days | Subject."
            )
        match = re.fullmatch(r"offset\((.*)\)", piece)
        if match:
            offsets.append(match.group(1).strip())
            continue
        fixed.append(piece)
    if not random:
        raise MultilevelInputError(
            f"no random-effects term in {formula!r}. Add one such as (1 | group); for a model "
            "without random effects use statsmodels' ols or logit."
        )
    return ParsedFormula(
        formula=formula,
        response=None if cbind else lhs,
        cbind=cbind,
        fixed=" + ".join(fixed) if fixed else "1",
        random=tuple(random),
        offsets=tuple(offsets),
    )
