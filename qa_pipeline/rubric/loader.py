"""Load rubric YAML with file- and line-precise errors; export the JSON Schema for editors."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from qa_pipeline.errors import QAPipelineError, RubricValidationError
from qa_pipeline.rubric.registry import RuleLocationError, parse_rule, rule_types
from qa_pipeline.rubric.schema import Rubric

Loc = tuple[str | int, ...]

MAX_RUBRIC_BYTES = 1_000_000
# Deeper nesting is no rubric (the deepest default rubric nests 8 levels); the composer
# recurses per level, so an unbounded depth would end in RecursionError.
MAX_NESTING = 64

# YAML's core schema: the only types a rubric is made of. Anything else (!!python/...,
# !!binary, !!set, local !tags) is refused on every node, not only on scalars.
_CORE_TAGS = frozenset(f"tag:yaml.org,2002:{t}"
                       for t in ("str", "int", "float", "bool", "null", "seq", "map"))
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _LineLoader(yaml.SafeLoader):
    """Safe loader for untrusted configuration files (rubrics, tenants).

    Refuses anchors and aliases as they are read: a 522-byte file of nested aliases expands
    to gigabytes when walked, and these files have no need for them. Refuses nesting deeper
    than :data:`MAX_NESTING`. A date-like plain scalar stays a string (no timestamp type).
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _depth = 0
    what = "rubrics"  # named in the refusal of anchors

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose one node, refusing anchors, aliases and excessive nesting."""
        event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in the stubs
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, f"anchors and aliases (&name, *name) are not allowed in {self.what}",
                event.start_mark)
        if self._depth >= MAX_NESTING:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_NESTING} levels", event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def compose_untrusted_yaml(text: str, source: str, *,
                           error: type[QAPipelineError] = RubricValidationError,
                           what: str = "rubric") -> tuple[Any, dict[Loc, int]]:
    """Parse untrusted YAML and record the 1-based line of every key and list item.

    Anchors, aliases, nesting deeper than :data:`MAX_NESTING`, duplicate keys and every tag
    outside YAML's core schema (on any node) are refused with ``source:line``.

    Args:
        text: The YAML document.
        source: The file name errors start with.
        error: The exception raised for every refusal.
        what: What the document is ("rubric", "tenant config"), for the messages.

    Returns:
        The plain data (dicts, lists, str, int, float, bool, None) and the line of each
        location (a tuple of keys and list indices; ``()`` is the document).
    """
    loader = _LineLoader(text)
    loader.what = f"{what}s"
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise error(f"{source}{line}: invalid YAML: {e}") from None
    finally:
        loader.dispose()
    lines: dict[Loc, int] = {}

    def build(n: yaml.Node, loc: Loc) -> Any:
        lines[loc] = n.start_mark.line + 1
        if n.tag not in _CORE_TAGS:
            raise error(
                f"{source}:{n.start_mark.line + 1}: tag "
                f"{n.tag.replace('tag:yaml.org,2002:', '!!')!r} is not allowed "
                "(only plain strings, numbers, booleans, null, lists and mappings)")
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in n.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise error(
                        f"{source}:{key_node.start_mark.line + 1}: keys must be plain words")
                key = key_node.value
                if key in out:
                    raise error(
                        f"{source}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
                lines[(*loc, key)] = key_node.start_mark.line + 1
                out[key] = build(value_node, (*loc, key))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(item, (*loc, i)) for i, item in enumerate(n.value)]
        return scalar_loader.construct_object(n, deep=True)

    if node is None:
        raise error(f"{source}: {what} file is empty")
    scalar_loader = _LineLoader("")
    try:
        return build(node, ()), lines
    except yaml.YAMLError as e:  # e.g. a !!python/object tag: safe loading refuses it
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise error(f"{source}{line}: invalid YAML: {e}") from None
    finally:
        scalar_loader.dispose()


def _line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def where(source: str, lines: dict[Loc, int], loc: Loc) -> str:
    """``source:line (key.path)`` of a location (the nearest enclosing one that has a line),
    from the lines :func:`compose_untrusted_yaml` recorded.
    """
    line = _line_of(lines, loc)
    path = ".".join(str(p) for p in loc)
    return f"{source}:{line}" + (f" ({path})" if path else "") if line else source


def _check_unique_ids(data: dict[str, Any], lines: dict[Loc, int], source: str) -> None:
    """Refuse a repeated criterion id at the line of the repeat (the schema's own check
    sees the whole rubric and could only name line 1).
    """
    sections = data.get("sections")
    first: dict[str, Loc] = {}
    for s_i, section in enumerate(sections if isinstance(sections, list) else ()):
        criteria = section.get("criteria") if isinstance(section, dict) else None
        for c_i, criterion in enumerate(criteria if isinstance(criteria, list) else ()):
            cid = criterion.get("id") if isinstance(criterion, dict) else None
            if not isinstance(cid, str):
                continue
            loc: Loc = ("sections", s_i, "criteria", c_i, "id")
            if cid in first:
                raise RubricValidationError(
                    f"{where(source, lines, loc)}: duplicate criterion id {cid!r} (first at "
                    f"line {_line_of(lines, first[cid])})")
            first[cid] = loc


def load_rubric_text(text: str, source: str = "<rubric>",
                     tenant_acts: Sequence[str] = ()) -> Rubric:
    """Validate rubric YAML text; ``tenant_acts`` are act ids the tenant defines (its rules may
    name them).
    """
    data, lines = compose_untrusted_yaml(text, source)
    if not isinstance(data, dict):
        raise RubricValidationError(f"{source}:1: a rubric must be a mapping")
    _check_unique_ids(data, lines, source)
    try:
        rubric = Rubric.model_validate(data, context={"tenant_acts": tuple(tenant_acts)})
    except ValidationError as e:
        messages = []
        for err in e.errors():
            loc = tuple(err["loc"])
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = f"unknown key {loc[-1]!r}"
            messages.append(f"{where(source, lines, loc)}: {msg}")
        raise RubricValidationError("\n".join(messages)) from None
    for s_i, section in enumerate(rubric.sections):
        for c_i, criterion in enumerate(section.criteria):
            base: Loc = ("sections", s_i, "criteria", c_i, "rule")
            try:
                parsed = parse_rule(criterion.rule)
            except RuleLocationError as e:
                raise RubricValidationError(
                    f"{where(source, lines, (*base, *e.loc))}: criterion {criterion.id!r}: {e}"
                ) from None
            criterion._parsed = parsed
    return rubric


def load_rubric(path: str | os.PathLike[str], tenant_acts: Sequence[str] = ()) -> Rubric:
    """Load and validate a rubric file (``tenant_acts``: as for :func:`load_rubric_text`).

    Raises:
        RubricValidationError: with ``file:line (key.path): problem`` for each problem.
    """
    p = Path(path)
    try:
        if p.stat().st_size > MAX_RUBRIC_BYTES:
            raise RubricValidationError(f"{p}: rubric file is larger than {MAX_RUBRIC_BYTES} bytes")
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise RubricValidationError(f"{p}: cannot read rubric: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise RubricValidationError(f"{p}: rubric is not UTF-8 text") from e
    return load_rubric_text(text, str(p), tenant_acts)


def rubric_json_schema() -> dict[str, Any]:
    """JSON Schema of rubric files, with every rule type's spec (for editor completion)."""
    schema = Rubric.model_json_schema()
    rule_schemas = []
    defs = schema.setdefault("$defs", {})
    for name, rule_type in sorted(rule_types().items()):
        sub = rule_type.spec.model_json_schema(ref_template="#/$defs/{model}")
        for key, value in sub.pop("$defs", {}).items():
            defs.setdefault(key, value)
        sub["title"] = name
        sub["description"] = (rule_type.doc.strip().splitlines() or [""])[0]
        defs[f"rule_{name}"] = sub
        rule_schemas.append({"$ref": f"#/$defs/rule_{name}"})
    defs["Criterion"]["properties"]["rule"] = {"oneOf": rule_schemas}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "qa-pipeline rubric"
    return schema


def rubric_json_schema_text() -> str:
    """The schema as stable, pretty JSON (``rubrics/schema.json``)."""
    return json.dumps(rubric_json_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
