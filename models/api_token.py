from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from tortoise import fields
from tortoise.models import Model

from .fields import labelled
from .user import Role

TOKEN_PREFIX = "mst_"
SHOWN_PREFIX_CHARS = 12  # "mst_" + 8 random characters: enough to tell tokens apart


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
    prefix = labelled(fields.CharField(
        max_length=SHOWN_PREFIX_CHARS, null=True, db_index=True,
        description="First characters of the token, to recognise it (not enough to use it)"),
        "Prefix")
    expires_at = labelled(
        fields.DatetimeField(null=True, description="Refused from then on, or never if empty"),
        "Expires")
    revoked = fields.BooleanField(default=False)
    revoked_at = labelled(
        fields.DatetimeField(null=True, description="When it was revoked"), "Revoked")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ms_api_token"

    @classmethod
    async def issue(cls, user: User, role: Role, name: str,
                    expires_in: timedelta | None = None) -> tuple[ApiToken, str]:
        """Create a token for `user`; returns the row and the clear token (never stored)."""
        clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires_at = datetime.now(UTC) + expires_in if expires_in is not None else None
        row = await cls.create(user=user, role=role, name=name, token_hash=hash_token(clear),
                               prefix=clear[:SHOWN_PREFIX_CHARS], expires_at=expires_at)
        return row, clear

    def status(self, now: datetime) -> str:
        """active, revoked or expired."""
        if self.revoked:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def refusal(self, now: datetime) -> str | None:
        """Why a request with this token is refused now, or None if it is good."""
        if self.revoked:
            when = f" on {self.revoked_at:%Y-%m-%d %H:%M} UTC" if self.revoked_at else ""
            return f"This API token was revoked{when}"
        if self.expires_at is not None and self.expires_at <= now:
            return f"This API token expired on {self.expires_at:%Y-%m-%d %H:%M} UTC"
        return None

    async def action_revoke(self) -> bool:
        """Revoke now; False if it already was. Open WebSocket sessions are ended by
        ws_sessions.py (told through the events bus, and by its periodic re-check)."""
        if self.revoked:
            return False
        self.revoked, self.revoked_at = True, datetime.now(UTC)
        await self.save(update_fields=["revoked", "revoked_at"])
        return True


from .user import User  # noqa: E402  (annotation target; avoids a cycle at class creation)
