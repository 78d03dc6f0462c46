from __future__ import annotations

import hashlib
import secrets

from tortoise import fields
from tortoise.models import Model

from .fields import labelled
from .user import Role

TOKEN_PREFIX = "mst_"


def hash_token(token: str) -> str:
    """Tokens are high-entropy random strings, so a plain SHA-256 is enough (no salt/KDF)."""
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(Model):
    """A bearer token for the API. Only its hash is stored, the token is shown once."""

    id = fields.IntField(primary_key=True)
    name = labelled(fields.CharField(max_length=200, description="What the token is for"), "Name")
    role = labelled(
        fields.CharEnumField(Role, description="Permissions of requests made with it"), "Role"
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tokens", on_delete=fields.CASCADE)
    token_hash = fields.CharField(max_length=64, unique=True)
    last_used_at = labelled(
        fields.DatetimeField(null=True, description="Last request made with it"), "Last used"
    )
    revoked = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ms_api_token"

    @classmethod
    async def issue(cls, user: User, role: Role, name: str) -> tuple[ApiToken, str]:
        """Create a token for `user`; returns the row and the clear token (never stored)."""
        clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = await cls.create(user=user, role=role, name=name, token_hash=hash_token(clear))
        return row, clear


from .user import User  # noqa: E402  (annotation target; avoids a cycle at class creation)
