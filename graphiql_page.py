"""The GraphiQL page: strawberry's template, served offline, locked down by its headers.

Changes to strawberry's template (each checked, so an upgrade that moves them fails loudly
at import instead of silently undoing one):
- assets come from /static/graphiql/ instead of unpkg.com (same files, same SRI hashes), so
  the page works with no internet;
- the headers editor is not persisted (`shouldPersistHeaders: false`), and GraphiQL gets a
  storage that drops `headers` from what its history and tabs keep: the Authorization header
  never lands in localStorage;
- a `headers` URL parameter is read once, then removed from the address bar (and so from
  the browser history).

Response headers: a Content-Security-Policy that allows only the page's own assets and its
one inline script and style (by SHA-256 hash), connections to its own origin only, and no
framing (`frame-ancestors 'none'`, plus `X-Frame-Options: DENY` for older browsers).
"""
from __future__ import annotations

import base64
import hashlib
import re

ASSETS = {
    "https://unpkg.com/react@18.2.0/umd/react.production.min.js": "react.production.min.js",
    "https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js": (
        "react-dom.production.min.js"
    ),
    "https://unpkg.com/js-cookie@3.0.5/dist/js.cookie.min.js": "js.cookie.min.js",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.css": "graphiql.min.css",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/style.css": "plugin-explorer.css",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.js": "graphiql.min.js",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": "plugin-explorer.umd.js",
}
STATIC_PREFIX = "/static/graphiql/"

_STORAGE = """
      // GraphiQL's history keeps the headers of each run (the Authorization token among
      // them) in localStorage whatever shouldPersistHeaders says: store it without them.
      const HEADERLESS_KEYS = ["graphiql:queries", "graphiql:favorites", "graphiql:tabState"];
      function withoutHeaders(key, value) {
        if (key === "graphiql:headers") return "";
        if (!HEADERLESS_KEYS.includes(key)) return value;
        try {
          return JSON.stringify(JSON.parse(value), (k, v) => (k === "headers" ? undefined : v));
        } catch (e) {
          return value;
        }
      }
      function ownKeys() {
        return Object.keys(localStorage).filter((k) => k.startsWith("graphiql:"));
      }
      const storage = {
        getItem: (key) => localStorage.getItem(key),
        setItem: (key, value) => localStorage.setItem(key, withoutHeaders(key, value)),
        removeItem: (key) => localStorage.removeItem(key),
        get length() { return ownKeys().length; },
        clear: () => ownKeys().forEach((k) => localStorage.removeItem(k)),
      };

      const fetcher = """

_EDITS = (
    ("shouldPersistHeaders: true", "shouldPersistHeaders: false,\n          storage: storage"),
    ("\n      const fetcher = ", _STORAGE),
    ("      const fetchURL = ",
     "      // Read a shared `headers` parameter once; never keep a token in the URL.\n"
     "      const initialHeaders = parameters.headers;\n"
     "      delete parameters.headers;\n"
     "      updateURL({});\n\n"
     "      const fetchURL = "),
    ("React.useState(parameters.headers)", "React.useState(initialHeaders)"),
)
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
_INLINE_STYLE = re.compile(r"<style>(.*?)</style>", re.S)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def build_page(template: str) -> tuple[str, dict[str, str]]:
    """The page's HTML and the headers to serve it with."""
    html = template
    for old, new in [*ASSETS.items(), *_EDITS]:
        if old not in html:
            raise RuntimeError(f"strawberry's GraphiQL template changed: {old!r} not found")
        html = html.replace(old, STATIC_PREFIX + new if old in ASSETS else new)
    scripts = [_sha256(s) for s in _INLINE_SCRIPT.findall(html)]
    styles = [_sha256(s) for s in _INLINE_STYLE.findall(html)]
    policy = "; ".join([
        "default-src 'none'",
        "script-src 'self' " + " ".join(scripts),
        "style-src 'self' " + " ".join(styles),
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ])
    return html, {"Content-Security-Policy": policy, "X-Frame-Options": "DENY",
                  "Cache-Control": "no-store"}
