"""The root Query / Mutation / Subscription, composed from the per-domain resolver mixins.

To add a domain, write `resolvers/<domain>.py` with `XQueries` / `XMutations` /
`XSubscriptions` classes and list them below (one line each).
"""
from __future__ import annotations

from typing import Any

from strawberry.tools import merge_types

from .delivery import DeliveryMutations
from .dry_run import DryRunQueries
from .email import EmailMutations, EmailQueries
from .jobs import JobMutations, JobSubscriptions
from .meta import MetaQueries
from .oauth import OAuthMutations, OAuthQueries
from .people import PeopleMutations, PeopleQueries
from .rule import RuleExplainQueries, RuleMutations, RuleQueries
from .scanner import ScannerMutations, ScannerQueries
from .scanner_start import ScannerStartMutations, ScannerStartQueries
from .scanning import ScanningMutations, ScanningQueries
from .ticket import TicketMutations, TicketQueries
from .tokens import TokenMutations, TokenQueries

QUERIES: tuple[type, ...] = (
    TicketQueries,
    PeopleQueries,
    ScannerQueries,
    ScannerStartQueries,
    ScanningQueries,
    DryRunQueries,
    RuleQueries,
    RuleExplainQueries,
    MetaQueries,
    OAuthQueries,
    EmailQueries,
    TokenQueries,
)
MUTATIONS: tuple[type, ...] = (
    TicketMutations,
    DeliveryMutations,
    PeopleMutations,
    ScannerMutations,
    ScannerStartMutations,
    ScanningMutations,
    RuleMutations,
    OAuthMutations,
    EmailMutations,
    JobMutations,
    TokenMutations,
)
SUBSCRIPTIONS: tuple[type, ...] = (
    JobSubscriptions,
)

Query: Any = merge_types("Query", QUERIES)
Mutation: Any = merge_types("Mutation", MUTATIONS)
Subscription: Any = merge_types("Subscription", SUBSCRIPTIONS) if SUBSCRIPTIONS else None
