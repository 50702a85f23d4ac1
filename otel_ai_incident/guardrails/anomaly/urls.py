"""What a URL or e-mail address argument points at, reduced to the parts that say where data goes.

A URL's full text is new on almost every call (paths, ids, query strings), so its fingerprint carries no
signal; its scheme and the registered domain of its host (or the kind of address when the host is an IP
literal or an internal name) repeat, and a new one is what SSRF, look-alike hosts and exfiltration to an
outside domain look like. Kept out of the value vocabulary's way: these become extra leaves of their own.

Look-alikes are found without keeping host names: each known registered domain leaves the fingerprints of
its name's *skeleton* (confusable characters folded: `0`->`o`, `1`/`i`->`l`, `rn`->`m`, ...) and of that
skeleton with one character deleted. A new host whose skeleton, or any of its labels, or its skeleton with
one character deleted meets that set is within one edit of a known name once confusables are folded
(the symmetric-deletion test): `api.str1pe.com`, `gmail.co`, `api-github.com`, `github.com.evil.io`.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import NamedTuple

# Names that reach the cloud instance metadata service or the local host, whatever they resolve to.
INTERNAL_NAMES = frozenset(("localhost", "metadata", "metadata.google.internal", "instance-data", "metadata.azure.com"))
# Second-level labels under which registrars sell names ("example.co.uk"): the registered domain has three labels.
_SECOND_LEVEL = frozenset(("co", "com", "org", "net", "gov", "ac", "edu", "ne", "or"))
# Characters and pairs that render alike in a host name, folded before names are compared.
_CONFUSABLES = (("rn", "m"), ("vv", "w"), ("0", "o"), ("1", "l"), ("i", "l"), ("3", "e"), ("5", "s"), ("_", "-"))
# Labels shorter than this are too common ("api", "www", "mail") to say which name a host imitates, and
# within one edit of too many others.
MIN_NAME = 4
MIN_EDITED_NAME = 5
NAME_HOST = "name"


class Url(NamedTuple):
    """A URL as the scorer sees it: scheme, host class (see `host_class`), query string and the raw host."""

    scheme: str
    domain: str
    query: str
    host: str


@functools.lru_cache(maxsize=1024)
def host_class(host: str) -> str:
    """The registered domain of `host` ("github.com" for "api.github.com"), or for an IP literal or internal
    name the kind of address it is ("ip:private", "ip:loopback", "ip:link-local", "internal", ...).
    Hosts repeat from call to call, so results are cached (bounded)."""
    host = host.strip("[]").rstrip(".").lower()
    if host[:1].isdigit() or ":" in host:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None:
            for kind in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
                if getattr(address, f"is_{kind}"):
                    return "ip:" + kind.replace("_", "-")
            return "ip:global"
    if host in INTERNAL_NAMES or host.endswith((".internal", ".local", ".localhost")):
        return "internal"
    labels = host.split(".")
    return ".".join(labels[-_domain_size(labels) :])


def reach(domain: str) -> str:
    """The kind of place a host class is: a registered name, an IP address of some range, an internal
    name, or none (a `file://` URL). Few values, stable per tool: a new one is an SSRF's signature."""
    if not domain:
        return "none"
    if domain.startswith("ip:") or domain == "internal":
        return domain
    return NAME_HOST


def _labels(host: str) -> list[str]:
    return host.strip("[]").rstrip(".").lower().split(".")


def _domain_size(labels: list[str]) -> int:
    return 3 if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL else 2


def skeleton(name: str) -> str:
    """`name` with confusable characters folded, so `str1pe` and `stripe` compare equal."""
    for seen, meant in _CONFUSABLES:
        name = name.replace(seen, meant)
    return name


def _deletions(name: str) -> list[str]:
    return [name[:i] + name[i + 1 :] for i in range(len(name))] if len(name) >= MIN_EDITED_NAME else []


@functools.lru_cache(maxsize=1024)
def name_marks(host: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(what a known host leaves, what a new host is probed with for the same name, and for a name one edit
    away) for the look-alike test, as strings.

    A known host leaves `=name` (the skeleton of its registered name) and `-name'` for each one-character
    deletion. A new host has the same name when one of its labels or hyphen-separated parts equals a known
    name once confusables are folded (`str1pe.com`, `gmail.co`, `api-github.com`, `github.com.evil.io`):
    spelled to deceive. It is one edit away when its own name is within one edit of one: `-name` (it lost
    a character), `=name'` for its deletions (it gained one), `-name'` (one was replaced); real names are
    that close too (`globex` and `globe`). Parts of labels are compared whole only: `mail.proton.me` does
    not imitate `gmail.com`. Empty for IP literals and internal names."""
    if reach(host_class(host)) != NAME_HOST:
        return (), (), ()
    labels = _labels(host)
    size = _domain_size(labels)
    if len(labels) < size:
        return (), (), ()
    name = skeleton(labels[-size])
    deleted = _deletions(name)
    own = (f"={name}", *(f"-{d}" for d in deleted))
    parts = {skeleton(part) for label in labels[: len(labels) - size + 1] for part in (label, *label.split("-"))}
    same = tuple(sorted(f"={part}" for part in parts if len(part) >= MIN_NAME))
    near: set[str] = set()
    if deleted:
        near.add(f"-{name}")
        near.update(mark for d in deleted for mark in (f"={d}", f"-{d}"))
    return own, same, tuple(sorted(near - set(same)))


# A host written without a scheme (a `host` or `ip` argument): a dotted name or an IP literal, with an
# optional port. File names ("report.csv") match too; they all have the same kind, "name".
_BARE_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+)(?::\d{1,5})?")


def bare_host(text: str) -> str | None:
    """The host in a string that is nothing but a host (and port), else None."""
    if len(text) > 255 or _BARE_HOST.fullmatch(text) is None:
        return None
    if text.startswith("["):
        return text[: text.find("]") + 1]
    return text.partition(":")[0] if text.count(":") == 1 else text


def url_parts(text: str) -> Url | None:
    """The parts of a URL written with "scheme://", else None. Parsed by hand: the authority ends at the
    first "/", "?" or "#", user info before "@" and a port after ":" are dropped."""
    scheme, separator, rest = text.partition("://")
    if not separator or len(scheme) > 12 or not scheme.isalpha():
        return None
    end = len(rest)
    for mark in "/?#":
        found = rest.find(mark, 0, end)
        if found >= 0:
            end = found
    authority = rest[:end].rpartition("@")[2]
    host = authority[: authority.find("]") + 1] if authority.startswith("[") else authority.partition(":")[0]
    _, has_query, query = rest[end:].partition("?")
    return Url(scheme.lower(), host_class(host) if host else "", query.partition("#")[0] if has_query else "", host)


def mail_host(text: str) -> str | None:
    """The host of the recipient in a one-address string ("mail.example.com" for "jane@mail.example.com")."""
    if text.count("@") != 1 or " " in text or "," in text or len(text) > 254:
        return None
    host = text.rpartition("@")[2]
    return host if "." in host else None
