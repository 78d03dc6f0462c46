"""`/oauth/<provider>/callback`: where a provider's sign-in sends the admin's browser back.

Microsoft form-POSTs `code` and `state` (we ask for response_mode=form_post so the code never
sits in a URL, a history entry or a proxy log); Google, and Microsoft on a GET, put them in
the query string. The state names a pending flow that an admin started through the API, so
it is what authenticates this request: there is no session cookie to check. The answer is a
short page for a person, never JSON, and never cached.
"""
from __future__ import annotations

import html
import logging

from starlette.requests import Request
from starlette.responses import HTMLResponse

from ..models import OAuthProvider
from ..transport.errors import OAuthError
from ..transport.providers import provider
from ..transport.providers.flows import AuthorizationFailed, complete_authorization

logger = logging.getLogger(__name__)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;
line-height:1.5}}h1{{font-size:1.4rem}}</style></head>
<body><h1>{title}</h1><p>{message}</p><p>{hint}</p></body></html>
"""
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff"}


def _page(status: int, title: str, message: str, hint: str) -> HTMLResponse:
    body = _PAGE.format(title=html.escape(title), message=html.escape(message),
                        hint=html.escape(hint))
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


async def _callback(kind: OAuthProvider, request: Request) -> HTMLResponse:
    """Complete an authorization and tell the admin which account was authorized."""
    if request.method == "POST":
        form = await request.form()
        params = {k: v for k, v in form.items() if isinstance(v, str)}
    else:
        params = dict(request.query_params)
    label = provider(kind).label
    try:
        account = await complete_authorization(kind, params)
    except AuthorizationFailed as exc:
        return _page(400, "Authorization failed", str(exc),
                     "Nothing was saved. You can close this window.")
    except OAuthError as exc:
        logger.warning("%s authorization could not be completed: %s", label, exc)
        return _page(502, "Authorization failed", str(exc),
                     "Nothing was saved. Try again later; you can close this window.")
    return _page(200, "Account authorized",
                 f"The {label} account {account.email} is authorized for the mail scanner.",
                 "You can close this window and select the account in the scanner settings.")


async def microsoft_callback(request: Request) -> HTMLResponse:
    return await _callback(OAuthProvider.MICROSOFT, request)


async def google_callback(request: Request) -> HTMLResponse:
    return await _callback(OAuthProvider.GOOGLE, request)
