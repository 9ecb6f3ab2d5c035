"""A small JSON Schema validator for the subset that tool parameters and structured output
use: the reply of a `--tools` or `--response-format` run is checked against it.

Checked keywords: `type` (one or a list; `integer` accepts 3.0 as JSON Schema does),
`properties`, `required`, `additionalProperties` (true, false or a schema), `items` (one
schema), `prefixItems`, `enum`, `const`, `minimum`, `maximum`, `exclusiveMinimum`,
`exclusiveMaximum`, `multipleOf`, `minLength`, `maxLength`, `pattern`, `minItems`,
`maxItems`, `uniqueItems`, `minProperties`, `maxProperties`, `anyOf`, `oneOf`, `allOf`,
`not`. Annotations are accepted and not checked: `title`, `description`, `default`,
`examples`, `$schema`, `$id`, `$comment`, `format` (an annotation in JSON Schema 2020-12),
`strict`. Any other keyword (`$ref`, `$defs`, `if`, `dependentRequired`, ...) is refused when
the schema is loaded (`check_schema`), so nothing passes unchecked.

Our own rather than a dependency: the subset is ~150 lines, and `jsonschema` would add
itself plus `referencing`, `rpds-py` (compiled) and `attrs` to every install for keywords we
would still have to list (docs/structured-output.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ANNOTATIONS", "CHECKED", "SchemaError", "check_schema", "validate"]

CHECKED = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "prefixItems",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
    }
)
ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$schema", "$id", "$comment", "format"}
    | {"strict", "deprecated", "readOnly", "writeOnly"}
)
_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_NUMBERS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_COUNTS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
_MAX_ERRORS_TEXT = 200


class SchemaError(ValueError):
    """A schema this validator cannot check faithfully: names the keyword and its place."""


def check_schema(schema: Any, where: str = "#") -> None:
    """SchemaError unless `schema` is a boolean or an object whose every keyword is checked
    or an annotation, recursively, with values of the right kind."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise SchemaError(f"{where}: a schema must be an object or a boolean")
    for key, value in schema.items():
        at = f"{where}/{key}"
        if key in ANNOTATIONS:
            continue
        if key not in CHECKED:
            raise SchemaError(f"{at}: keyword {key!r} is not supported (not checked)")
        _check_keyword(key, value, at)


def _check_keyword(key: str, value: Any, at: str) -> None:
    if key == "type":
        names = value if isinstance(value, list) else [value]
        if not names or any(n not in _TYPES for n in names):
            raise SchemaError(f"{at}: type must be one of {', '.join(sorted(_TYPES))}")
    elif key == "properties":
        if not isinstance(value, dict):
            raise SchemaError(f"{at}: properties must be an object")
        for name, sub in value.items():
            check_schema(sub, f"{at}/{name}")
    elif key == "required":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SchemaError(f"{at}: required must be a list of names")
    elif key in ("additionalProperties", "items", "not"):
        check_schema(value, at)
    elif key in _SUBSCHEMA_LISTS:
        if not isinstance(value, list) or not value:
            raise SchemaError(f"{at}: {key} must be a non-empty list of schemas")
        for i, sub in enumerate(value):
            check_schema(sub, f"{at}/{i}")
    elif key == "enum":
        if not isinstance(value, list) or not value:
            raise SchemaError(f"{at}: enum must be a non-empty list")
    elif key in _NUMBERS:
        if not _is_number(value) or (key == "multipleOf" and value <= 0):
            raise SchemaError(f"{at}: {key} must be a number")
    elif key in _COUNTS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SchemaError(f"{at}: {key} must be a whole number >= 0")
    elif key == "pattern":
        try:
            re.compile(value) if isinstance(value, str) else None
        except re.error as exc:
            raise SchemaError(f"{at}: pattern is not a regular expression ({exc})") from None
        if not isinstance(value, str):
            raise SchemaError(f"{at}: pattern must be a string")
    elif key == "uniqueItems" and not isinstance(value, bool):
        raise SchemaError(f"{at}: uniqueItems must be true or false")


def validate(value: Any, schema: Any, where: str = "$") -> str | None:
    """The first way `value` breaks `schema` (a checked schema), as `where: what`, or None."""
    if schema is True:
        return None
    if schema is False:
        return f"{where}: no value is allowed here"
    for key, rule in schema.items():
        check = _RULES.get(key)
        if check is not None:
            problem = check(value, rule, where, schema)
            if problem is not None:
                return problem[:_MAX_ERRORS_TEXT]
    return None


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _is_type(value: Any, name: str) -> bool:
    actual = _type_of(value)
    if name == "number":
        return actual in ("number", "integer")
    if name == "integer" and actual == "number":
        return float(value).is_integer()
    return actual == name


def _type(value: Any, rule: Any, where: str, _: Mapping[str, Any]) -> str | None:
    names = rule if isinstance(rule, list) else [rule]
    if any(_is_type(value, n) for n in names):
        return None
    return f"{where}: expected {' or '.join(names)}, got {_type_of(value)}"


def _properties(value: Any, rule: Any, where: str, _: Mapping[str, Any]) -> str | None:
    if not isinstance(value, dict):
        return None
    for name, sub in rule.items():
        if name in value:
            problem = validate(value[name], sub, f"{where}.{name}")
            if problem:
                return problem
    return None


def _required(value: Any, rule: Any, where: str, _: Mapping[str, Any]) -> str | None:
    if not isinstance(value, dict):
        return None
    missing = [name for name in rule if name not in value]
    return f"{where}: missing required {', '.join(missing)}" if missing else None


def _additional(value: Any, rule: Any, where: str, schema: Mapping[str, Any]) -> str | None:
    if not isinstance(value, dict):
        return None
    known = schema.get("properties") or {}
    for name, item in value.items():
        if name in known:
            continue
        if rule is False:
            return f"{where}: unexpected property {name[:40]!r}"
        problem = validate(item, rule, f"{where}.{name}")
        if problem:
            return problem
    return None


def _items(value: Any, rule: Any, where: str, schema: Mapping[str, Any]) -> str | None:
    if not isinstance(value, list):
        return None
    skip = len(schema.get("prefixItems") or ())
    for i, item in enumerate(value[skip:], skip):
        problem = validate(item, rule, f"{where}[{i}]")
        if problem:
            return problem
    return None


def _prefix_items(value: Any, rule: Any, where: str, _: Mapping[str, Any]) -> str | None:
    if not isinstance(value, list):
        return None
    for i, (item, sub) in enumerate(zip(value, rule, strict=False)):
        problem = validate(item, sub, f"{where}[{i}]")
        if problem:
            return problem
    return None


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _enum(value: Any, rule: Any, where: str, _: Mapping[str, Any]) -> str | None:
    if any(_same(value, choice) for choice in rule):
        return None
    return f"{where}: not one of the enum's {len(rule)} values"


def _const(value: Any, rule: Any, where: str, _: Mapping[str, Any]) -> str | None:
    return None if _same(value, rule) else f"{where}: not the const value"


def _bound(op: str) -> Callable[[Any, Any, str, Mapping[str, Any]], str | None]:
    tests: dict[str, Callable[[float, float], bool]] = {
        "minimum": lambda v, r: v >= r,
        "maximum": lambda v, r: v <= r,
        "exclusiveMinimum": lambda v, r: v > r,
        "exclusiveMaximum": lambda v, r: v < r,
        "multipleOf": lambda v, r: math.isclose(v / r, round(v / r), abs_tol=1e-9),
    }
    test = tests[op]

    def check(value: Any, rule: Any, where: str, _: Mapping[str, Any]) -> str | None:
        if not _is_number(value) or test(value, rule):
            return None
        return f"{where}: {value!r} breaks {op} {rule!r}"

    return check


def _count(op: str, kind: type) -> Callable[[Any, Any, str, Mapping[str, Any]], str | None]:
    low = op.startswith("min")

    def check(value: Any, rule: Any, where: str, _: Mapping[str, Any]) -> str | None:
        if not isinstance(value, kind):
            return None
        size = len(value)  # type: ignore[arg-type]
        if (size >= rule) if low else (size <= rule):
            return None
        return f"{where}: length {size} breaks {op} {rule}"

    return check


def _pattern(value: Any, rule: Any, where: str, _: Mapping[str, Any]) -> str | None:
    if not isinstance(value, str) or re.search(rule, value):
        return None
    return f"{where}: does not match pattern {rule[:40]!r}"


def _unique(value: Any, rule: Any, where: str, _: Mapping[str, Any]) -> str | None:
    if not rule or not isinstance(value, list):
        return None
    for i, item in enumerate(value):
        if any(_same(item, other) for other in value[:i]):
            return f"{where}: item {i} repeats an earlier one (uniqueItems)"
    return None


def _any_of(value: Any, rule: Any, where: str, _: Mapping[str, Any]) -> str | None:
    if any(validate(value, sub, where) is None for sub in rule):
        return None
    return f"{where}: matches none of anyOf's {len(rule)} schemas"


def _one_of(value: Any, rule: Any, where: str, _: Mapping[str, Any]) -> str | None:
    hits = sum(validate(value, sub, where) is None for sub in rule)
    return None if hits == 1 else f"{where}: matches {hits} of oneOf's schemas, not exactly 1"


def _all_of(value: Any, rule: Any, where: str, _: Mapping[str, Any]) -> str | None:
    for sub in rule:
        problem = validate(value, sub, where)
        if problem:
            return problem
    return None


def _not(value: Any, rule: Any, where: str, _: Mapping[str, Any]) -> str | None:
    return f"{where}: matches a schema under not" if validate(value, rule, where) is None else None


_RULES: dict[str, Callable[[Any, Any, str, Mapping[str, Any]], str | None]] = {
    "type": _type,
    "properties": _properties,
    "required": _required,
    "additionalProperties": _additional,
    "items": _items,
    "prefixItems": _prefix_items,
    "enum": _enum,
    "const": _const,
    **{op: _bound(op) for op in _NUMBERS},
    "minLength": _count("minLength", str),
    "maxLength": _count("maxLength", str),
    "minItems": _count("minItems", list),
    "maxItems": _count("maxItems", list),
    "minProperties": _count("minProperties", dict),
    "maxProperties": _count("maxProperties", dict),
    "pattern": _pattern,
    "uniqueItems": _unique,
    "anyOf": _any_of,
    "oneOf": _one_of,
    "allOf": _all_of,
    "not": _not,
}
