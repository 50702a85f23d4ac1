"""Reading the console's form posts (`application/x-www-form-urlencoded`) with limits, and its refusals.

The standard library parses them: the console's forms have a few short fields, no file uploads, so a
multipart parser would be one more dependency for nothing. Anything else is refused with a page, not a trace.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request

MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 32
FORM_TYPE = "application/x-www-form-urlencoded"


class ConsoleError(Exception):
    """A request the console refuses: the status and a sentence for the person at the browser."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class LoginRequired(Exception):
    """A page asked for without a valid session: the answer is the login page."""


async def read_form(request: Request) -> dict[str, str]:
    """The posted fields (a repeated field keeps its last value); 413/415/400 for what is not a small form."""
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise ConsoleError(415, f"expected a form post ({FORM_TYPE})")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise ConsoleError(413, f"the form is larger than {MAX_FORM_BYTES // 1024} KiB")
    except ClientDisconnect:
        raise ConsoleError(400, "the form was not received") from None
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise ConsoleError(400, "the form could not be read") from None
    return dict(pairs)


def lines(text: str) -> list[str]:
    """A textarea's non-empty lines, trimmed: one contributing factor or remediation step each."""
    return [line.strip() for line in text.splitlines() if line.strip()]
