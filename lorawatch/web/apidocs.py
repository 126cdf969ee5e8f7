"""``/api/docs``: the API reference as one HTML page, made from the OpenAPI schema.

FastAPI's Swagger UI and ReDoc load their scripts from a CDN, and a commune's machine may
have no Internet, nor should its pages run third-party code; so the schema the API already
publishes is rendered here on the server, with the pages' stylesheet and no script. Each
operation shows its method, path, role, parameters (with their constraints), request body
and answers, linked by anchors; schemas referenced by ``$ref`` are listed at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(slots=True)
class Param:
    name: str
    where: str
    required: bool
    type: str
    description: str


@dataclass(slots=True)
class Operation:
    method: str
    path: str
    anchor: str
    summary: str
    description: str
    security: list[str]
    params: list[Param] = field(default_factory=list)
    body: str = ""
    responses: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass(slots=True)
class Schema:
    name: str
    description: str
    fields: list[Param]


def type_of(schema: dict[str, Any]) -> str:
    """A short, readable type: ``integer ≥ 1``, ``"hour" | "day"``, ``list of Alert``..."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for combo in ("anyOf", "oneOf"):
        if combo in schema:
            parts = [type_of(s) for s in schema[combo]]
            return " | ".join(p for p in parts if p != "null") + (
                " (optional)" if "null" in parts else ""
            )
    if "enum" in schema:
        return " | ".join(f'"{v}"' for v in schema["enum"])
    if "const" in schema:
        return f'"{schema["const"]}"'
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"list of {type_of(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        return f"map to {type_of(extra) if isinstance(extra, dict) else 'any'}"
    if "format" in schema:
        kind = f"{kind} ({schema['format']})"
    bounds = [
        f"{sign} {schema[key]}"
        for key, sign in (
            ("minimum", "≥"),
            ("exclusiveMinimum", ">"),
            ("maximum", "≤"),
            ("exclusiveMaximum", "<"),
            ("maxLength", "length ≤"),
        )
        if key in schema
    ]
    return ", ".join([kind, *bounds])


def _security(op: dict[str, Any]) -> list[str]:
    requirements = op.get("security", [])
    names = sorted({name for requirement in requirements for name in requirement})
    return [*names, "optional"] if {} in requirements else names


def operations(spec: dict[str, Any]) -> dict[str, list[Operation]]:
    """The schema's operations grouped by their first tag, in the schema's order."""
    groups: dict[str, list[Operation]] = {}
    for path, item in spec.get("paths", {}).items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = [
                Param(
                    p["name"],
                    p.get("in", ""),
                    bool(p.get("required")),
                    type_of(p.get("schema", {})),
                    str(p.get("description") or p.get("schema", {}).get("description", "")),
                )
                for p in op.get("parameters", [])
            ]
            body = ""
            content = op.get("requestBody", {}).get("content", {})
            for media, value in content.items():
                body = f"{media}: {type_of(value.get('schema', {}))}"
            responses = []
            for code, answer in op.get("responses", {}).items():
                schemas = [type_of(v.get("schema", {})) for v in answer.get("content", {}).values()]
                responses.append(
                    (str(code), str(answer.get("description", "")), ", ".join(schemas))
                )
            anchor = f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", "")
            groups.setdefault((op.get("tags") or ["other"])[0], []).append(
                Operation(
                    method.upper(),
                    path,
                    anchor.strip("-"),
                    str(op.get("summary", "")),
                    str(op.get("description", "")),
                    _security(op),
                    params,
                    body,
                    responses,
                )
            )
    return groups


def schemas(spec: dict[str, Any]) -> list[Schema]:
    """The named models, each with its fields, for the ``$ref`` links of the operations."""
    out = []
    for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items()):
        required = set(schema.get("required", []))
        fields = [
            Param(
                key,
                "",
                key in required,
                type_of(value),
                str(value.get("description", "")),
            )
            for key, value in schema.get("properties", {}).items()
        ]
        out.append(Schema(name, str(schema.get("description", "")), fields))
    return out
