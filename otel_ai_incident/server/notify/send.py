"""One POST of one message to one target, bounded by a timeout, with errors that never carry the URL."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

USER_AGENT = "otel-ai-incident"


class DeliveryError(Exception):
    """A target did not take the message; the text is safe to log and to keep (no URL, no secret)."""


def post_json(url: str, body: Any, timeout_s: float) -> None:
    """POST `body` as JSON; returns on a 2xx answer, raises `DeliveryError` otherwise."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read(64 * 1024)
    except urllib.error.HTTPError as error:
        raise DeliveryError(f"HTTP {error.code}") from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError):
            raise DeliveryError(f"no answer within {timeout_s:g}s") from None
        raise DeliveryError(f"cannot connect: {type(reason).__name__}") from None
    except TimeoutError:
        raise DeliveryError(f"no answer within {timeout_s:g}s") from None
    except (OSError, ValueError) as error:
        raise DeliveryError(f"{type(error).__name__}") from None
