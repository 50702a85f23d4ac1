"""Store URLs: which backend a URL names, and how to show one without its password."""

from __future__ import annotations

import urllib.parse

SQLITE_SCHEME = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_sqlite_url(url: str) -> bool:
    return url.startswith(SQLITE_SCHEME)


def is_postgres_url(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


def redacted(url: str) -> str:
    """The URL with any password replaced by `***`, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def unsupported(store: str, url: str) -> ValueError:
    """The error every `open_*` factory raises for a URL it does not know."""
    return ValueError(
        f"{store}: unsupported URL {redacted(url)!r}: expected {SQLITE_SCHEME}PATH or postgresql://USER@HOST:PORT/DB"
    )
