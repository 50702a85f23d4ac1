"""Rendering the console's HTML: the Jinja environment (autoescaped), its filters, and the headers every page gets.

The Content-Security-Policy allows nothing but this receiver's own styles, scripts, images and form targets,
so text an alert or a user put into an incident can neither run script nor load anything from elsewhere even
if escaping ever failed; pages are never cached, since they show who is contained right now.
"""

from __future__ import annotations

import time
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup
from starlette.responses import HTMLResponse

from otel_ai_incident.incidents.text import details, utc

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

# CommonMark with tables, raw HTML off: HTML in recorded text comes out as text, never as markup.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def duration(seconds: float | None) -> str:
    """ "3d 4h", "2h 05m", "45s": how long ago, how much is left; "-" when unknown."""
    if seconds is None:
        return "-"
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def iso(at: float | None) -> str:
    """The machine-readable form for `<time datetime>`."""
    return "" if at is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("otel_ai_incident.server.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(utc=utc, duration=duration, iso=iso, details=details)
    # Safe by construction: markdown-it escapes every character of text and emits only its own tags.
    env.filters["markdown"] = lambda text: Markup(_MARKDOWN.render(text))
    return env


class Pages:
    def __init__(self) -> None:
        self.env = _environment()

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
