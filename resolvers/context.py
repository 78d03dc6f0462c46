"""The per-request GraphQL context: who is acting, settings, and the request's DataLoaders."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import strawberry

from ..settings import Settings
from .auth import Principal
from .dataloaders import Loaders


@dataclass
class Context:
    settings: Settings
    principal: Principal | None
    request: Any = None
    response: Any = None
    loaders: Loaders = field(default_factory=Loaders)
    connection_params: dict[str, Any] | None = None

    @property
    def user_id(self) -> int | None:
        return self.principal.user.id if self.principal else None


Info: TypeAlias = strawberry.Info[Context, None]
