"""One configuration object read from the environment (12-factor), like Starlette's Config.

Every value has an embedded default so `mailscanner serve` works with no configuration at
all: SQLite in a per-user data folder, jobs in-process, a secret key generated once.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs


class ConfigError(Exception):
    """A bad configuration value; its message is one line naming the variable."""


_DB_SCHEMES = {"sqlite", "postgres", "postgresql", "asyncpg"}
_REDIS_SCHEMES = {"redis", "rediss", "unix"}


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None
    secret_key: str
    public_url: str
    ticket_prefix: str = "TT"
    message_id_domain: str = "mailscanner.local"
    parse_processes: int = 0  # processes a scan parses mail in (0: one, for the budget)
    max_request_bytes: int = 1024 * 1024  # larger HTTP bodies get 413 before any parsing
    max_response_bytes: int = 8 * 1024 * 1024  # larger GraphQL answers become a typed error
    request_timeout: float = 30.0  # seconds to send a request's head, and then its body
    message_budget_seconds: float = 10.0  # CPU to parse and match one mail, then quarantined
    resolver_budget_seconds: float = 10.0  # CPU for checkRule/explainRule, then TIMEOUT
    # Larger attachments are listed as skipped (TOO_LARGE), and larger uploads refused.
    max_attachment_bytes: int = 25 * 1024 * 1024
    attachments_dir: Path | None = None  # the local blob store; None: <data_dir>/attachments
    metrics: str = "api"  # off | api (GET /metrics on the API) | a port of its own
    log_format: str | None = None  # json | text; None: text on a terminal, else JSON
    shutdown_seconds: float = 30.0  # SIGTERM: the work in hand gets this long, then cancelled
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        """True when no Redis is configured: jobs run inside the API process."""
        return self.redis_url is None

    @property
    def blob_dir(self) -> Path:
        """Where the local blob store keeps attachment bytes."""
        return self.attachments_dir or self.data_dir / "attachments"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _data_dir(env: Mapping[str, str]) -> Path:
    raw = env.get("MAILSCANNER_DATA_DIR") or platformdirs.user_data_dir("mailscanner")
    path = Path(raw).expanduser()
    try:
        # 0700: the folder holds the secret key and the embedded database. Explicit chmod,
        # because mkdir's mode is filtered by the umask; an existing folder is left as it is
        # (an admin may have set it up for a service group on purpose).
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700)
        path.chmod(0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"MAILSCANNER_DATA_DIR: cannot create {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK):
        raise ConfigError(f"MAILSCANNER_DATA_DIR: {path} is not writable")
    return path


def _database_url(env: Mapping[str, str], data_dir: Path) -> str:
    url = env.get("DATABASE_URL")
    if not url:
        return f"sqlite://{data_dir / 'mailscanner.sqlite3'}"
    scheme = urlsplit(url).scheme
    if scheme not in _DB_SCHEMES:
        raise ConfigError(
            f"DATABASE_URL: unsupported scheme {scheme!r} (use sqlite:// or postgres://)"
        )
    if scheme == "postgresql":  # Tortoise knows postgres:// and asyncpg://
        url = "postgres" + url[len("postgresql"):]
    return url


def _redis_url(env: Mapping[str, str]) -> str | None:
    url = env.get("REDIS_URL") or None
    if url is not None and urlsplit(url).scheme not in _REDIS_SCHEMES:
        raise ConfigError("REDIS_URL: must start with redis://, rediss:// or unix://")
    return url


def _secret_key(env: Mapping[str, str], data_dir: Path) -> str:
    key = env.get("MAILSCANNER_SECRET_KEY")
    if key is not None:
        if len(key) < 16:
            raise ConfigError("MAILSCANNER_SECRET_KEY: must be at least 16 characters")
        return key
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    # Created 0600 from the start, so the key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _public_url(env: Mapping[str, str]) -> str:
    url = env.get("MAILSCANNER_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
    if urlsplit(url).scheme not in {"http", "https"} or not urlsplit(url).netloc:
        raise ConfigError("MAILSCANNER_PUBLIC_URL: must be an http(s) URL such as https://crm.example.com")
    return url


def _parse_processes(env: Mapping[str, str]) -> int:
    # Default: one core stays with the event loop (IMAP, database), up to 4 parse beside it.
    raw = env.get("MAILSCANNER_PARSE_PROCESSES")
    if raw is None:
        return max(0, min(4, (os.cpu_count() or 1) - 1))
    if not raw.strip().isdigit() or int(raw) > 64:
        raise ConfigError("MAILSCANNER_PARSE_PROCESSES: must be a whole number from 0 to 64")
    return int(raw)


def _bounded_int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    if not raw.strip().isdigit() or not low <= int(raw) <= high:
        raise ConfigError(f"{name}: must be a whole number from {low} to {high}")
    return int(raw)


def _bounded_seconds(env: Mapping[str, str], name: str, default: float, low: float,
                     high: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # also refuses nan and inf
        raise ConfigError(f"{name}: must be a number of seconds from {low:g} to {high:g}")
    return value


def _metrics(env: Mapping[str, str]) -> str:
    raw = (env.get("MAILSCANNER_METRICS") or "api").strip().lower()
    if raw in ("off", "api") or (raw.isdigit() and 1 <= int(raw) <= 65535):
        return raw
    raise ConfigError("MAILSCANNER_METRICS: must be off, api or a port number (1-65535)")


def _log_format(env: Mapping[str, str]) -> str | None:
    raw = (env.get("MAILSCANNER_LOG_FORMAT") or "").strip().lower()
    if raw not in ("", "json", "text"):
        raise ConfigError("MAILSCANNER_LOG_FORMAT: must be json or text")
    return raw or None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the configuration; raise ConfigError with one line naming the bad variable."""
    env = os.environ if env is None else env
    data_dir = _data_dir(env)
    prefix = env.get("MAILSCANNER_TICKET_PREFIX", "TT")
    if not prefix.isalpha() or not prefix.isascii() or len(prefix) > 8:
        raise ConfigError("MAILSCANNER_TICKET_PREFIX: must be 1-8 ASCII letters, such as TT")
    return Settings(
        data_dir=data_dir,
        database_url=_database_url(env, data_dir),
        redis_url=_redis_url(env),
        secret_key=_secret_key(env, data_dir),
        public_url=_public_url(env),
        ticket_prefix=prefix.upper(),
        message_id_domain=env.get("MAILSCANNER_MESSAGE_ID_DOMAIN", "mailscanner.local"),
        parse_processes=_parse_processes(env),
        max_request_bytes=_bounded_int(env, "MAILSCANNER_MAX_REQUEST_BYTES", 1024 * 1024,
                                       4096, 1024 * 1024 * 1024),
        max_response_bytes=_bounded_int(env, "MAILSCANNER_MAX_RESPONSE_BYTES", 8 * 1024 * 1024,
                                        64 * 1024, 1024 * 1024 * 1024),
        request_timeout=float(_bounded_int(env, "MAILSCANNER_REQUEST_TIMEOUT", 30, 1, 3600)),
        message_budget_seconds=_bounded_seconds(env, "MAILSCANNER_MESSAGE_BUDGET_SECONDS", 10.0,
                                                0.01, 3600),
        resolver_budget_seconds=_bounded_seconds(env, "MAILSCANNER_RESOLVER_BUDGET_SECONDS",
                                                 10.0, 0.01, 3600),
        max_attachment_bytes=_bounded_int(env, "MAILSCANNER_MAX_ATTACHMENT_BYTES",
                                          25 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
        attachments_dir=attachments_dir_from_env(env),
        metrics=_metrics(env),
        log_format=_log_format(env),
        shutdown_seconds=float(_bounded_int(env, "MAILSCANNER_SHUTDOWN_SECONDS", 30, 1, 3600)),
    )


def attachments_dir_from_env(env: Mapping[str, str] | None = None) -> Path | None:
    """MAILSCANNER_ATTACHMENTS_DIR, if set (read alone by the migration that moves the
    stored bytes, which must not create a secret key as load_settings() may)."""
    env = os.environ if env is None else env
    raw = env.get("MAILSCANNER_ATTACHMENTS_DIR")
    return Path(raw).expanduser() if raw else None


def blob_dir_from_env(env: Mapping[str, str] | None = None) -> Path:
    """The local blob folder the environment configures, without other side effects than
    creating the data folder."""
    env = os.environ if env is None else env
    return attachments_dir_from_env(env) or _data_dir(env) / "attachments"

