"""Input checks at the schema boundary: one place, before any resolver runs.

Each argument of each root field (queries and mutations) is walked together with its
GraphQL type, against the bounds in schema/limits.py:
- text (String arguments and input fields, strings inside JSON): at most its bound in
  characters (TOO_LONG); no NUL character, which PostgreSQL cannot store, and no lone
  surrogate, which is not Unicode and which no database can store (INVALID_CHARACTERS);
- IDs: at most ID_CHARS characters (their numeric range is resolvers/common.py's business:
  an id out of range names no row, on both databases alike);
- lists, JSON lists included: at most their bound in items (TOO_MANY); JSON numbers finite.

A caller without the field's permission gets the permission error, never the guard's
answer. Otherwise a violation is answered without running the resolver, so nothing is
stored half-way:
- a field whose result union has ValidationError returns one, with a FieldError per
  problem (field = input path such as `input.title` or `ruleIds[3]`);
- any other field fails with a GraphQL error whose extensions carry the same `code` and
  `field`.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLUnionType,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema_converter import GraphQLCoreConverter

from ..schema.errors import ErrorCode, FieldError, InputErrors
from ..schema.limits import ID_CHARS, ITEMS, JSON_LIST_ITEMS, JSON_STRING_CHARS, TEXT

DEFAULT_TEXT = 1000  # an input missing from limits.TEXT (tests/schema/test_limits.py fails)
DEFAULT_ITEMS = 100
_ROOTS = frozenset({"Query", "Mutation"})
_MAX_JSON_NESTING = 64


def text_problem(value: str, limit: int) -> tuple[ErrorCode, str] | None:
    if len(value) > limit:
        return ErrorCode.TOO_LONG, f"At most {limit} characters (this has {len(value)})"
    if "\x00" in value:
        return ErrorCode.INVALID_CHARACTERS, "NUL characters (\\u0000) are not allowed"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return ErrorCode.INVALID_CHARACTERS, "Not valid Unicode text (it has a lone surrogate)"
    return None


class _Walk:
    def __init__(self) -> None:
        self.errors = InputErrors()

    def add(self, path: str, problem: tuple[ErrorCode, str] | None) -> None:
        if problem is not None:
            self.errors.add(path, problem[0], problem[1])

    def value(self, gtype: GraphQLInputType, value: Any, coordinate: str, path: str) -> None:
        if value is None:
            return
        if isinstance(gtype, GraphQLNonNull):
            gtype = gtype.of_type
        if isinstance(gtype, GraphQLList):
            if self.too_many(value, ITEMS.get(coordinate, DEFAULT_ITEMS), path):
                return
            for i, item in enumerate(value):
                self.value(gtype.of_type, item, coordinate, f"{path}[{i}]")
        elif isinstance(gtype, GraphQLInputObjectType):
            for name, field in gtype.fields.items():
                if isinstance(value, dict) and name in value:
                    self.value(field.type, value[name], f"{gtype.name}.{name}", f"{path}.{name}")
        elif isinstance(gtype, GraphQLScalarType):
            if gtype.name == "JSON":
                self.json(value, ITEMS.get(coordinate, JSON_LIST_ITEMS), path, 0)
            elif isinstance(value, str):
                limit = ID_CHARS if gtype.name == "ID" else TEXT.get(coordinate, DEFAULT_TEXT)
                self.add(path, text_problem(value, limit))

    def too_many(self, value: Any, limit: int, path: str) -> bool:
        if isinstance(value, list) and len(value) > limit:
            self.errors.add(path, ErrorCode.TOO_MANY,
                            f"At most {limit} items (this has {len(value)})")
            return True
        return False

    def json(self, value: Any, list_limit: int, path: str, depth: int) -> None:
        if depth > _MAX_JSON_NESTING:
            self.errors.add(path, ErrorCode.INVALID, "Nested too deeply")
        elif isinstance(value, str):
            self.add(path, text_problem(value, JSON_STRING_CHARS))
        elif isinstance(value, float) and not math.isfinite(value):
            self.errors.add(path, ErrorCode.INVALID, "Numbers must be finite")
        elif isinstance(value, list):
            if not self.too_many(value, list_limit, path):
                for i, item in enumerate(value):
                    self.json(item, JSON_LIST_ITEMS, f"{path}[{i}]", depth + 1)
        elif isinstance(value, dict):
            if self.too_many(list(value), JSON_LIST_ITEMS, path):
                return
            for key, item in value.items():
                self.add(f"{path}.{key[:50]}", text_problem(key, 200))
                self.json(item, JSON_LIST_ITEMS, f"{path}.{key[:50]}", depth + 1)


def check_arguments(info: GraphQLResolveInfo[Any], arguments: dict[str, Any]) -> InputErrors:
    """Every problem (up to MAX_FIELD_ERRORS) with the arguments of a root field."""
    field = info.parent_type.fields[info.field_name]
    walk = _Walk()
    for name, argument in field.args.items():
        if name in arguments:
            coordinate = f"{info.parent_type.name}.{info.field_name}({name}:)"
            walk.value(argument.type, arguments[name], coordinate, name)
    return walk.errors


def _permitted(root: Any, info: GraphQLResolveInfo[Any], arguments: dict[str, Any]) -> bool:
    definition = info.parent_type.fields[info.field_name].extensions.get(
        GraphQLCoreConverter.DEFINITION_BACKREF)
    classes = getattr(definition, "permission_classes", None) or []
    return all(cls().has_permission(root, info, **arguments) for cls in classes)


def _returns_validation_error(info: GraphQLResolveInfo[Any]) -> bool:
    gtype = info.return_type
    if isinstance(gtype, GraphQLNonNull):
        gtype = gtype.of_type
    return isinstance(gtype, GraphQLUnionType) and any(
        t.name == "ValidationError" for t in gtype.types)


def _rejection(first: FieldError) -> GraphQLError:
    return GraphQLError(f"{first.field}: {first.message}",
                        extensions={"code": first.code.name, "field": first.field})


class InputGuard(SchemaExtension):
    def resolve(self, _next: Callable[..., Any], root: Any, info: GraphQLResolveInfo[Any],
                *args: Any, **kwargs: Any) -> Any:
        if (info.path.prev is not None or info.parent_type.name not in _ROOTS
                or info.field_name not in info.parent_type.fields):  # __type, __schema
            return _next(root, info, *args, **kwargs)
        errors = check_arguments(info, kwargs)
        if not errors.errors or not _permitted(root, info, kwargs):
            return _next(root, info, *args, **kwargs)
        if _returns_validation_error(info):
            return errors.as_result()
        raise _rejection(errors.errors[0])
