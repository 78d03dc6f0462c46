"""Model metadata (labels, types, choices) for frontends, like Odoo's fields_get."""
from __future__ import annotations

import strawberry

from .. import models
from ..schema.meta import Choice, FieldInfoType, ModelName
from .context import Info
from .permissions import IsAgent

_MODELS = {
    ModelName.TICKET: models.Ticket, ModelName.CONTACT: models.Contact,
    ModelName.ACCOUNT: models.Account, ModelName.SCANNER: models.Scanner,
    ModelName.COMMENT: models.Comment, ModelName.RULE: models.Rule, ModelName.USER: models.User,
}


@strawberry.type
class MetaQueries:
    @strawberry.field(
        permission_classes=[IsAgent], description="Fields of a model with label, type and choices"
    )
    def fields(self, info: Info, model: ModelName) -> list[FieldInfoType]:
        return [
            FieldInfoType(name=f.name, label=f.label, help=f.help, type=f.type, required=f.required,
                          choices=[Choice(value=v, label=lbl) for v, lbl in f.choices])
            for f in models.describe_model(_MODELS[model])
        ]
