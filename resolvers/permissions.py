"""Role checks. Admins do everything; agents work tickets, comments, contacts and accounts.

Used as `@strawberry.field(permission_classes=[IsAgent])`. A denial is a GraphQL error with
the class's message (HTTP 200), as strawberry's BasePermission does.
"""
from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from .context import Info


class IsAgent(BasePermission):
    message = "Authentication required: send 'Authorization: Bearer <token>'"
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.principal is not None


class IsAdmin(BasePermission):
    message = "Only administrators may do this"
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        return principal is not None and principal.is_admin
