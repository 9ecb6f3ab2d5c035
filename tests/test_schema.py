"""wire/schema.py: the JSON Schema subset, checked both ways, and every keyword it does not
check refused when a schema is loaded."""

from __future__ import annotations

from typing import Any

import pytest

from llmbench_async.wire.schema import ANNOTATIONS, CHECKED, SchemaError, check_schema, validate

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2, "maxLength": 20},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
        "unit": {"enum": ["c", "f"]},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
    },
    "required": ["city"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "value",
    [
        {"city": "Oslo"},
        {"city": "Oslo", "days": 3, "unit": "c", "tags": ["a"]},
        {"city": "Oslo", "days": 3.0},  # 3.0 is an integer in JSON Schema
    ],
)
def test_valid_values_pass(value: Any) -> None:
    check_schema(WEATHER)
    assert validate(value, WEATHER) is None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({}, "missing required city"),
        ({"city": 5}, "$.city: expected string, got integer"),
        ({"city": "O"}, "minLength"),
        ({"city": "Oslo", "days": 0}, "minimum"),
        ({"city": "Oslo", "days": 15}, "maximum"),
        ({"city": "Oslo", "days": 1.5}, "expected integer"),
        ({"city": "Oslo", "days": True}, "expected integer, got boolean"),
        ({"city": "Oslo", "unit": "k"}, "enum"),
        ({"city": "Oslo", "tags": ["a", 1]}, "$.tags[1]: expected string"),
        ({"city": "Oslo", "tags": ["a", "b", "c"]}, "maxItems"),
        ({"city": "Oslo", "extra": 1}, "unexpected property 'extra'"),
        (["Oslo"], "expected object, got array"),
        (None, "expected object, got null"),
    ],
)
def test_invalid_values_name_the_place_and_the_rule(value: Any, says: str) -> None:
    problem = validate(value, WEATHER)
    assert problem is not None and says in problem


@pytest.mark.parametrize(
    ("schema", "good", "bad"),
    [
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, 3, 1.5),
        ({"oneOf": [{"minimum": 0}, {"maximum": 10}]}, 20, 5),  # 5 matches both
        ({"allOf": [{"minimum": 0}, {"maximum": 10}]}, 5, 11),
        ({"not": {"type": "string"}}, 1, "x"),
        ({"const": {"a": [1, 2]}}, {"a": [1, 2.0]}, {"a": [1, True]}),
        ({"type": ["string", "null"]}, None, 1),
        ({"exclusiveMinimum": 0, "exclusiveMaximum": 1}, 0.5, 1),
        ({"multipleOf": 0.5}, 1.5, 1.2),
        ({"pattern": "^[a-z]+$"}, "abc", "ab1"),
        ({"uniqueItems": True}, [1, 2], [1, 1.0]),
        ({"minProperties": 1, "maxProperties": 1}, {"a": 1}, {}),
        ({"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}, ["a", 1], [1]),
        ({"additionalProperties": {"type": "integer"}}, {"x": 1}, {"x": "1"}),
        (True, 1, None),
    ],
)
def test_each_keyword_both_ways(schema: Any, good: Any, bad: Any) -> None:
    check_schema(schema)
    assert validate(good, schema) is None
    if bad is not None or schema is not True:
        assert validate(bad, schema) is not None


def test_false_allows_nothing() -> None:
    assert validate(1, False) is not None


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#/$defs/x"},
        {"type": "object", "properties": {"a": {"if": {"type": "string"}}}},
        {"dependentRequired": {"a": ["b"]}},
        {"items": [{"type": "string"}]},  # the old tuple form of items
        {"type": "str"},
        {"required": "a"},
        {"minimum": "1"},
        {"pattern": "("},
        {"anyOf": []},
        {"nullable": True},
        "object",
    ],
)
def test_unsupported_or_malformed_schemas_are_refused(schema: Any) -> None:
    with pytest.raises(SchemaError):
        check_schema(schema)


def test_annotations_and_checked_keywords_do_not_overlap() -> None:
    assert not ANNOTATIONS & CHECKED
    check_schema({"title": "t", "description": "d", "format": "date-time", "type": "string"})
