r"""Rule regular expressions from untrusted rubric files, run by a linear-time engine.

Rubric authors write Python syntax, but a backtracking engine lets one careless pattern
(``(a+)+$``) take hours on one utterance. Patterns are therefore

* parsed with Python's own parser (so syntax errors read as they always did),
* refused when a quantifier repeats another unbounded or variable quantifier (the shape
  behind catastrophic backtracking: ``(a+)+$``, ``(\w+\s?)+$``), and
* compiled by RE2 (``google-re2``), whose matching time is linear in the text. RE2 has no
  look-around and no back-references; such patterns are refused with that reason.

Python's ``\w``, ``\d`` and ``\s`` match Unicode (Chinese characters are word characters);
RE2's match ASCII only, so they are rewritten to the equivalent Unicode classes before
compiling. ``\b`` stays RE2's ASCII word boundary.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, Protocol

__all__ = ["Pattern", "check_pattern", "compile_pattern"]


class _Match(Protocol):
    def group(self, index: int = 0, /) -> str: ...  # pragma: no cover - protocol

    def start(self, index: int = 0, /) -> int: ...  # pragma: no cover - protocol

    def end(self, index: int = 0, /) -> int: ...  # pragma: no cover - protocol


class Pattern(Protocol):
    """The part of a compiled pattern the matchers use (``re.Pattern`` and RE2's agree)."""

    def search(self, text: str, pos: int = ..., endpos: int = ...) -> _Match | None:
        """The first match in ``text``, or None."""


# Python's Unicode classes written with RE2's Unicode properties (str.isalnum() or "_";
# str.isdecimal(); str.isspace()), as the body of a bracket expression.
_CLASS_BODY = {
    "w": r"\p{L}\p{N}_",
    "d": r"\p{Nd}",
    "s": r"\t-\r\x1c-\x1f\x85\p{Z}",
}
_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})
_HEX_DIGITS = {"u": 4, "U": 8}
_OMITTED_MIN = re.compile(r"\{,\d+\}")


def _parser() -> Any:
    """Python's regular-expression parser (``re._parser`` since 3.11, ``sre_parse`` before;
    imported by name so that 3.11+ does not warn about the deprecated alias).
    """
    try:
        return importlib.import_module("re._parser")
    except ImportError:  # Python 3.10
        return importlib.import_module("sre_parse")


def _subpatterns(av: Any) -> Iterator[Any]:
    """The parsed sub-patterns inside one opcode's argument (groups, branches, bodies)."""
    if hasattr(av, "data"):
        yield av
    elif isinstance(av, (list, tuple)):
        for item in av:
            yield from _subpatterns(item)


def _nested_quantifier(items: Any, outer: tuple[int, int] | None, unbounded: int) -> bool:
    """Whether a repeat that can match a varying number of times (at least twice) sits in
    another repeat that can match more than once, one of the two unbounded.
    """
    for op, av in items.data:
        name = getattr(op, "name", str(op))
        if name in _REPEATS:
            lo, hi, body = av
            variable = hi != lo and hi > 1
            if outer is not None and variable and (hi == unbounded or outer[1] == unbounded):
                return True
            if _nested_quantifier(body, (lo, hi) if hi > 1 else outer, unbounded):
                return True
            continue
        if any(_nested_quantifier(sub, outer, unbounded) for sub in _subpatterns(av)):
            return True
    return False


def _to_re2(pattern: str) -> str:
    r"""``pattern`` with Python's Unicode ``\w \W \d \D \s \S``, ``\Z``, ``\uXXXX`` and
    ``{,n}`` in RE2 syntax.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            e = pattern[i + 1]
            body = _CLASS_BODY.get(e.lower())
            if e in _HEX_DIGITS and pattern[i + 2:i + 2 + _HEX_DIGITS[e]].isalnum():
                # \u4e00 / \U0001f600: RE2 writes code points as \x{...}.
                digits = _HEX_DIGITS[e]
                out.append(f"\\x{{{pattern[i + 2:i + 2 + digits]}}}")
                i += 2 + digits
                continue
            if body is None:
                out.append(r"\z" if e == "Z" else pattern[i:i + 2])
            elif e.islower():
                out.append(body if in_class else f"[{body}]")
            elif in_class:
                raise ValueError(f"\\{e} inside [...] is not supported; write the class "
                                 f"negated instead, e.g. [^\\{e.lower()}...]")
            else:
                out.append(f"[^{body}]")
            i += 2
            continue
        if in_class:
            in_class = c != "]"
            out.append(c)
            i += 1
            continue
        if c == "{" and _OMITTED_MIN.match(pattern, i):
            out.append("{0")  # Python's {,n} is {0,n}; RE2 would read it as literal text
            i += 1
            continue
        out.append(c)
        i += 1
        if c == "[":
            in_class = True
            # A leading ^ and a ] right after it are part of the class, not its end.
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("]")
                i += 1
    return "".join(out)


def check_pattern(pattern: str) -> None:
    """Refuse a pattern that is invalid, prone to catastrophic backtracking or outside what
    the linear-time engine supports.

    Raises:
        ValueError: saying which of the three, with the pattern.
    """
    compile_pattern(pattern)


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> Pattern:
    """Compile a rubric pattern (case-insensitive) for linear-time matching.

    Raises:
        ValueError: the pattern is invalid, has nested quantifiers, or uses look-around,
            back-references or other syntax RE2 lacks.
        BackendUnavailableError: ``google-re2`` is not installed.
    """
    parser = _parser()
    try:
        parsed = parser.parse(pattern)
    except Exception as e:  # re.error; the parser raises nothing else for a str pattern
        raise ValueError(f"invalid regular expression {pattern!r}: {e}") from e
    if _nested_quantifier(parsed, None, parser.MAXREPEAT):
        raise ValueError(
            f"regular expression {pattern!r} nests quantifiers (like (a+)+): it can take "
            "exponential time; repeat a single item instead, e.g. (\\w+\\s?)+ -> [\\w\\s]+")
    try:
        import re2
    except ImportError as e:
        from qa_pipeline.errors import BackendUnavailableError

        raise BackendUnavailableError(
            "rule regular expressions need google-re2: pip install google-re2") from e
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the error is raised below; RE2 would also print it
    try:
        compiled: Pattern = re2.compile(_to_re2(pattern), options)
    except re2.error as e:
        detail = e.args[0].decode() if e.args and isinstance(e.args[0], bytes) else str(e)
        raise ValueError(
            f"regular expression {pattern!r} is not supported by the linear-time engine "
            f"({detail}); look-around and back-references are not available") from e
    return compiled
