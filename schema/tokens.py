"""API tokens as admins see them: what, whose, since when, until when. Never the hash or the
token itself (it is shown once, by `mailscanner token create`)."""
from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Annotated

import strawberry

from .. import models
from .enums import RoleEnum
from .errors import NotFoundError
from .people import UserType


@strawberry.enum(description="Whether requests with the token are accepted")
class ApiTokenStatus(Enum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


@strawberry.type(name="ApiToken", description="A bearer token for the API (never its secret)")
class ApiTokenType:
    id: strawberry.ID
    name: str
    role: RoleEnum  # type: ignore[valid-type]
    prefix: str | None = strawberry.field(
        description="First characters of the token, to recognise it; null for old tokens")
    user: UserType
    status: ApiTokenStatus
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_model(cls, m: models.ApiToken) -> ApiTokenType:
        return cls(id=strawberry.ID(str(m.id)), name=m.name, role=m.role, prefix=m.prefix,
                   user=UserType.from_model(m.user),
                   status=ApiTokenStatus(m.status(datetime.now(UTC))),
                   created_at=m.created_at, last_used_at=m.last_used_at,
                   expires_at=m.expires_at, revoked_at=m.revoked_at)


@strawberry.type
class ApiTokenPayload:
    api_token: ApiTokenType


RevokeApiTokenResult = Annotated[
    ApiTokenPayload | NotFoundError, strawberry.union("RevokeApiTokenResult")
]
