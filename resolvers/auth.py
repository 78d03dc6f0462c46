"""Bearer-token authentication: `Authorization: Bearer <token>` -> the acting user and role."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..models import ApiToken, Role, User
from ..models.api_token import hash_token

# Writing last_used_at on every request would turn reads into writes; a minute is precise enough.
_LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    user: User
    role: Role
    token_id: int

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
    """The principal for a clear token, or None for a missing, unknown or revoked one."""
    if not token:
        return None
    row = (
        await ApiToken.filter(token_hash=hash_token(token), revoked=False)
        .select_related("user")
        .first()
    )
    if row is None or not row.user.active:
        return None
    now = datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at > _LAST_USED_PRECISION:
        await ApiToken.filter(id=row.id).update(last_used_at=now)
    return Principal(user=row.user, role=Role(row.role), token_id=row.id)


async def create_token(role: Role, name: str, user_name: str | None = None) -> str:
    """Create a token (and its user if needed); returns the clear token, shown only once."""
    user_name = user_name or name
    user = await User.filter(name=user_name, role=role).first()
    if user is None:
        user = await User.create(name=user_name, role=role)
    _, clear = await ApiToken.issue(user, role, name)
    return clear
