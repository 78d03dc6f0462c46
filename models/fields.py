"""Field declarations that carry a label and help text, like Odoo's `fields.Char(string=, help=)`.

Tortoise keeps `description` (used here for help text) but drops unknown keyword arguments,
so the label is attached to the field object after construction. `describe_model()` reads it
back for the API's `fields(model:)` query and for template tags.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from tortoise import fields
from tortoise.models import Model

# Tortoise types a nullable foreign-key declaration as `ForeignKeyNullableRelation[M]`, i.e.
# `ForeignKeyFieldInstance[M] | None`, hence the None in the bound; at runtime it is a Field.
F = TypeVar("F", bound=fields.Field[Any] | None)


class LabelledEnum(str, enum.Enum):
    """A str enum whose members carry a human label: `OPEN = ("open", "Open")`."""

    label: str

    def __new__(cls, value: str, label: str | None = None) -> LabelledEnum:
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.label = label or value.replace("_", " ").capitalize()
        return obj

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(m.value, m.label) for m in cls]


def labelled(field: F, label: str) -> F:
    """Attach a human label to a Tortoise field (its help text goes in `description=`)."""
    # Tortoise fields have no `label`; it is an extra attribute read by describe_model().
    cast(Any, field).label = label
    return field


@dataclass(frozen=True)
class FieldInfo:
    name: str
    label: str
    help: str
    type: str
    required: bool
    choices: tuple[tuple[str, str], ...]


_TYPE_NAMES = {
    "CharField": "string", "TextField": "text", "IntField": "integer", "BigIntField": "integer",
    "SmallIntField": "integer", "BooleanField": "boolean", "DatetimeField": "datetime",
    "DateField": "date", "JSONField": "json", "CharEnumFieldInstance": "selection",
    "ForeignKeyFieldInstance": "many2one", "DecimalField": "decimal", "FloatField": "float",
}


def describe_model(model: type[Model], *, include_hidden: bool = False) -> list[FieldInfo]:
    """List a model's labelled fields (the API's `fields(model:)`); unlabelled ones are internal."""
    out: list[FieldInfo] = []
    for name, field in model._meta.fields_map.items():
        label = getattr(field, "label", None)
        if label is None and not include_hidden:
            continue
        if getattr(field, "write_only", False) and not include_hidden:
            continue
        enum_type = getattr(field, "enum_type", None)
        choices: tuple[tuple[str, str], ...] = ()
        if enum_type is not None and issubclass(enum_type, LabelledEnum):
            choices = tuple(enum_type.choices())
        required = not field.null and field.default is None and not field.generated
        if isinstance(field, (fields.DatetimeField,)) and (field.auto_now or field.auto_now_add):
            required = False
        out.append(FieldInfo(
            name=name, label=label or name, help=field.description or "",
            type=_TYPE_NAMES.get(type(field).__name__, type(field).__name__),
            required=required, choices=choices,
        ))
    return out
