"""Bearer-token authentication: `Authorization: Bearer <token>` -> the acting user and role.

`authenticate()` answers None for no token at all, and raises `InvalidToken` with a message
for a person ("This API token was revoked on ...") for a token that is unknown, revoked,
expired or whose user is deactivated: the view turns that into 401 INVALID_TOKEN, or refuses
the WebSocket.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .. import events
from ..models import ApiToken, Role, User
from ..models.api_token import hash_token

# Writing last_used_at on every request would turn reads into writes; a minute is precise enough.
_LAST_USED_PRECISION = timedelta(minutes=1)


class InvalidToken(Exception):
    """A token was sent but cannot be used; `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


UNKNOWN_TOKEN = "This API token is not valid (unknown token: check that it was copied whole)"
NOT_BEARER = "The Authorization header must be 'Bearer <token>'"


@dataclass(frozen=True)
class Principal:
    user: User
    role: Role
    token_id: int
    expires_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(token: str | None) -> Principal | None:
    """The principal for a clear token; None without a token; `InvalidToken` for a token that
    is unknown, revoked, expired or belongs to a deactivated user."""
    if not token:
        return None
    # Tokens are ASCII; anything else (or an absurd length) cannot be one, and must not
    # reach the hash or the database as such.
    if len(token) > 512 or not token.isascii():
        raise InvalidToken(UNKNOWN_TOKEN)
    row = await ApiToken.filter(token_hash=hash_token(token)).select_related("user").first()
    if row is None:
        raise InvalidToken(UNKNOWN_TOKEN)
    now = datetime.now(UTC)
    refusal = row.refusal(now)
    if refusal is not None:
        raise InvalidToken(refusal)
    if not row.user.active:
        raise InvalidToken("This API token's user is deactivated")
    if row.last_used_at is None or now - row.last_used_at > _LAST_USED_PRECISION:
        await ApiToken.filter(id=row.id).update(last_used_at=now)
    return Principal(user=row.user, role=Role(row.role), token_id=row.id,
                     expires_at=row.expires_at)


async def create_token(role: Role, name: str, user_name: str | None = None,
                       expires_in: timedelta | None = None) -> str:
    """Create a token (and its user if needed); returns the clear token, shown only once."""
    user_name = user_name or name
    user = await User.filter(name=user_name, role=role).first()
    if user is None:
        user = await User.create(name=user_name, role=role)
    _, clear = await ApiToken.issue(user, role, name, expires_in)
    return clear


async def revoke_token(row: ApiToken) -> bool:
    """Revoke `row` and tell every process, so open WebSocket sessions with it end at once
    (ws_sessions.py); False if it was revoked already. HTTP requests are refused from the
    next one on: each request looks its token up."""
    if not await row.action_revoke():
        return False
    await events.publish_token_revoked(row.id)
    return True
