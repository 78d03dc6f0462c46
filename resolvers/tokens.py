"""API tokens for admins: list them, revoke one. Creating stays on the CLI
(`mailscanner token create`), where the secret is printed once to whoever runs the server."""
from __future__ import annotations

import strawberry

from .. import models
from ..schema.pagination import Connection
from ..schema.tokens import ApiTokenPayload, ApiTokenType, RevokeApiTokenResult
from .auth import revoke_token
from .common import get_or_none, not_found, paginate
from .context import Info
from .permissions import IsAdmin


@strawberry.type
class TokenQueries:
    @strawberry.field(permission_classes=[IsAdmin],
                      description="API tokens, newest first (never their secret)")
    async def api_tokens(self, info: Info, first: int | None = 50,
                         after: str | None = None) -> Connection[ApiTokenType]:
        qs = models.ApiToken.all().select_related("user").order_by("-id")
        return await paginate(qs, first, after, ApiTokenType.from_model)


@strawberry.type
class TokenMutations:
    @strawberry.mutation(permission_classes=[IsAdmin], description=(
        "Revoke a token: requests with it are refused from now on and WebSocket sessions "
        "using it are closed (code 4401). Revoking a revoked token changes nothing."))
    async def revoke_api_token(self, info: Info, id: strawberry.ID) -> RevokeApiTokenResult:
        row = await get_or_none(models.ApiToken, id)
        if row is None:
            return not_found("API token", id)
        await revoke_token(row)
        await row.fetch_related("user")
        return ApiTokenPayload(api_token=ApiTokenType.from_model(row))
