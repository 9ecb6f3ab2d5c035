"""Tools and structured output: the `--tools` file and `--response-format` read through the
inbound boundary, the request fields each API takes for them, and the `OutputCheck` a
reply is judged by (docs/structured-output.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..inbound import check_file, loads
from ..limits import KIB
from .output import OutputCheck
from .schema import SchemaError, check_schema

__all__ = [
    "MAX_SCHEMA_FILE_BYTES",
    "check_settings",
    "check_structured",
    "check_tools",
    "load_response_format",
    "load_tools",
    "output_check",
    "request_fields",
]

# a --tools file or a --response-format schema file: both are copied into the results file's
# header line (at most 4 MiB, MAX_RESULTS_LINE_BYTES), escaped, with the rest of the config
MAX_SCHEMA_FILE_BYTES = 512 * KIB
MAX_TOOLS = 128
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CHOICES = ("auto", "required", "none")
_TOOL_APIS = ("chat", "responses", "messages")
_FORMAT_APIS = ("chat", "responses")


def _read_json(path: Path, flag: str) -> Any:
    check_file(path, flag, MAX_SCHEMA_FILE_BYTES)
    try:
        with path.open("rb") as fh:  # bounded, even if the file grew since it was checked
            data = fh.read(MAX_SCHEMA_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_SCHEMA_FILE_BYTES:
        raise ConfigError(f"{flag}: {path} is larger than {MAX_SCHEMA_FILE_BYTES >> 10} KiB")
    return loads(data, f"{flag}: {path}")


def load_tools(path: Path) -> tuple[dict[str, Any], ...]:
    """The tool definitions of a `--tools` file: a JSON list of OpenAI function tools
    `{"type": "function", "function": {"name", "description", "parameters"}}`, each
    `parameters` a schema `wire/schema.py` checks; a one-line ConfigError otherwise."""
    return check_tools(_read_json(path, "--tools"), f"--tools: {path}")


def check_tools(value: Any, where: str) -> tuple[dict[str, Any], ...]:
    """Tool definitions as `load_tools` reads them (from a file, or the Python API's
    RunConfig), each with its `parameters`; a one-line ConfigError naming `where`."""
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(f"{where}: expected a non-empty JSON list of tool definitions")
    if len(value) > MAX_TOOLS:
        raise ConfigError(f"{where}: {len(value)} tools; at most {MAX_TOOLS}")
    names: set[str] = set()
    tools = []
    for i, tool in enumerate(value):
        at = f"{where}: tool {i}"
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(tool, dict)
            or tool.get("type") != "function"
            or not isinstance(function, dict)
        ):
            raise ConfigError(f'{at}: expected {{"type": "function", "function": {{...}}}}')
        name = function.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(f"{at}: function.name must be 1-64 letters, digits, _ or -")
        if name in names:
            raise ConfigError(f"{at}: tool {name!r} is defined twice")
        names.add(name)
        description = function.get("description", "")
        if not isinstance(description, str):
            raise ConfigError(f"{at}: function.description must be a string")
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        _check(parameters, f"{at} ({name}) parameters")
        tools.append({"type": "function", "function": {**function, "parameters": parameters}})
    return tuple(tools)


def load_response_format(text: str) -> Any:
    """`json` (any JSON object), or a file holding a JSON schema, bare or wrapped as
    `{"name": ..., "schema": {...}}`: the schema (a dict), or "json"."""
    if text.strip().lower() == "json":
        return "json"
    path = Path(text)
    value = _read_json(path, "--response-format")
    if isinstance(value, dict) and isinstance(value.get("schema"), dict) and "name" in value:
        value = value["schema"]
    where = f"--response-format: {path}"
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a JSON schema object")
    _check(value, where)
    return value


def _check(schema: Any, where: str) -> None:
    try:
        check_schema(schema)
    except SchemaError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def check_settings(
    api: str, tools: Sequence[Mapping[str, Any]], tool_choice: str, response_format: Any
) -> None:
    """Every rule of these settings however they were given (a RunConfig built in Python
    skips the files' checks): the tools, the schema, and what the API can carry."""
    checked = check_tools(list(tools), "tools") if tools else ()
    if response_format is not None and response_format != "json":
        if not isinstance(response_format, dict):
            raise ConfigError('response_format must be "json" or a JSON schema object')
        _check(response_format, "response_format")
    check_structured(api, checked, tool_choice, response_format)


def check_structured(
    api: str, tools: Sequence[Mapping[str, Any]], tool_choice: str, response_format: Any
) -> None:
    """The combinations each API can carry; a one-line ConfigError otherwise."""
    if tools and api not in _TOOL_APIS:
        raise ConfigError(f"--tools works with --api {', '.join(_TOOL_APIS)} (not {api})")
    if response_format is not None and api not in _FORMAT_APIS:
        raise ConfigError(f"--response-format works with --api chat or responses (not {api})")
    if tool_choice != "auto" and not tools:
        raise ConfigError("--tool-choice needs --tools")
    names = {t["function"]["name"] for t in tools}
    if tool_choice not in _CHOICES and tool_choice not in names:
        shown = ", ".join([*_CHOICES, *sorted(names)])
        raise ConfigError(f"--tool-choice must be one of {shown} (got {tool_choice!r})")


def request_fields(
    api: str, tools: Sequence[Mapping[str, Any]], tool_choice: str, response_format: Any
) -> dict[str, Any]:
    """The body fields that ask for the tools and the reply format, in the API's shape."""
    fields: dict[str, Any] = {}
    if tools:
        fields.update(_tool_fields(api, tools, tool_choice))
    if response_format is not None:
        fields.update(_format_fields(api, response_format))
    return fields


def _tool_fields(api: str, tools: Sequence[Mapping[str, Any]], choice: str) -> dict[str, Any]:
    functions = [t["function"] for t in tools]
    if api == "messages":
        listed = [
            {
                "name": f["name"],
                "description": f.get("description", ""),
                "input_schema": f["parameters"],
            }
            for f in functions
        ]
        kind = {"auto": "auto", "required": "any", "none": "none"}.get(choice, "tool")
        picked: dict[str, Any] = {"type": kind}
        if kind == "tool":
            picked["name"] = choice
        return {"tools": listed, "tool_choice": picked}
    if api == "responses":
        listed = [{"type": "function", **f} for f in functions]
        named: Any = {"type": "function", "name": choice}
    else:
        listed = [dict(t) for t in tools]
        named = {"type": "function", "function": {"name": choice}}
    return {"tools": listed, "tool_choice": choice if choice in _CHOICES else named}


def _format_fields(api: str, response_format: Any) -> dict[str, Any]:
    if response_format == "json":
        shape: dict[str, Any] = {"type": "json_object"}
        return {"response_format": shape} if api == "chat" else {"text": {"format": shape}}
    if api == "chat":
        schema = {"name": "reply", "schema": response_format, "strict": True}
        return {"response_format": {"type": "json_schema", "json_schema": schema}}
    shape = {"type": "json_schema", "name": "reply", "schema": response_format, "strict": True}
    return {"text": {"format": shape}}


def output_check(
    tools: Sequence[Mapping[str, Any]], tool_choice: str, response_format: Any
) -> OutputCheck | None:
    """What a valid reply is for these settings; None when replies are not checked."""
    if not tools and response_format is None:
        return None
    return OutputCheck(
        tools={t["function"]["name"]: t["function"]["parameters"] for t in tools},
        tool_choice=tool_choice,
        schema=response_format if isinstance(response_format, dict) else None,
        json_object=response_format == "json",
    )
