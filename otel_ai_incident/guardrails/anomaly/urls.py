"""What a URL or e-mail address argument points at, reduced to the parts that say where data goes.

A URL's full text is new on almost every call (paths, ids, query strings), so its fingerprint carries no
signal; its scheme and the registered domain of its host (or the kind of address when the host is an IP
literal or an internal name) repeat, and a new one is what SSRF, look-alike hosts and exfiltration to an
outside domain look like. Kept out of the value vocabulary's way: these become extra leaves of their own.
"""

from __future__ import annotations

import functools
import ipaddress

# Names that reach the cloud instance metadata service or the local host, whatever they resolve to.
_INTERNAL_NAMES = frozenset(
    ("localhost", "metadata", "metadata.google.internal", "instance-data", "metadata.azure.com")
)
# Second-level labels under which registrars sell names ("example.co.uk"): the registered domain has three labels.
_SECOND_LEVEL = frozenset(("co", "com", "org", "net", "gov", "ac", "edu", "ne", "or"))


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
    if host in _INTERNAL_NAMES or host.endswith((".internal", ".local", ".localhost")):
        return "internal"
    labels = host.split(".")
    size = 3 if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-size:])


def url_parts(text: str) -> tuple[str, str, str] | None:
    """(scheme, host class, query) of a URL written with "scheme://", else None. Parsed by hand: the
    authority ends at the first "/", "?" or "#", user info before "@" and a port after ":" are dropped."""
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
    return scheme.lower(), host_class(host) if host else "", query.partition("#")[0] if has_query else ""


def mail_domain(text: str) -> str | None:
    """The registered domain of the recipient in a one-address string ("jane@mail.example.com"), else None."""
    if text.count("@") != 1 or " " in text or "," in text or len(text) > 254:
        return None
    domain = text.rpartition("@")[2]
    return host_class(domain) if "." in domain else None
