"""The receiver's credentials, one per role, and where each is read from.

- `alerts`: Alertmanager posting notifications (`--token-file`, AII_WEBHOOK_TOKEN_FILE, AII_WEBHOOK_TOKEN);
- `reader`: an app's gate reading the containment state (`--reader-token-file`, AII_READER_TOKEN_FILE,
  AII_READER_TOKEN);
- `operator`: lifting containment and reading incidents (`--operator-token-file`, AII_OPERATOR_TOKEN_FILE,
  AII_OPERATOR_TOKEN), and acting in the incident console;
- `viewer`: reading the incident console without acting (`--viewer-token-file`, AII_VIEWER_TOKEN_FILE,
  AII_VIEWER_TOKEN).

A role without a token of its own uses the webhook token (except `viewer`: then nobody is a viewer), which
is how a single AII_WEBHOOK_TOKEN kept working for everything before roles existed: a deployment that sets
only that token behaves as before. Files are preferred to variables so the secrets stay out of process
listings and shell history.
"""

from __future__ import annotations

import enum
import os
import re
from pathlib import Path

from otel_ai_incident import names

MIN_TOKEN_LENGTH = 16
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")


class Role(enum.Enum):
    ALERTS = "alerts"
    READER = "reader"
    OPERATOR = "operator"
    VIEWER = "viewer"


_SETTINGS = {
    Role.ALERTS: (names.ENV_WEBHOOK_TOKEN_FILE, names.ENV_WEBHOOK_TOKEN),
    Role.READER: (names.ENV_READER_TOKEN_FILE, names.ENV_READER_TOKEN),
    Role.OPERATOR: (names.ENV_OPERATOR_TOKEN_FILE, names.ENV_OPERATOR_TOKEN),
    Role.VIEWER: (names.ENV_VIEWER_TOKEN_FILE, names.ENV_VIEWER_TOKEN),
}


def own_token(role: Role, token_file: str | Path | None = None) -> str | None:
    """`role`'s own token: `token_file`, else its _FILE variable, else its variable; None when none is set.

    Raises OSError when the file cannot be read.
    """
    file_variable, variable = _SETTINGS[role]
    token_file = token_file or os.environ.get(file_variable)
    token = Path(token_file).read_text(encoding="utf-8") if token_file else os.environ.get(variable)
    token = (token or "").strip()
    return token or None


def client_token(*roles: Role) -> str | None:
    """The token a client acting in `roles` (first preferred) sends: the first role's own, else the webhook's."""
    for role in (*roles, Role.ALERTS):
        token = own_token(role)
        if token:
            return token
    return None


def client_setting(*roles: Role) -> str:
    """Where `client_token(*roles)` comes from, for messages (never the token itself): the setting that gave
    it, or, when none did, the settings of the first role that could."""
    for role in (*roles, Role.ALERTS):
        if own_token(role):
            return setting_name(role)
    return "none set: " + " or ".join(_SETTINGS[(*roles, Role.ALERTS)[0]])


def check_token(token: str, setting: str) -> None:
    """Refuse a token too short to resist guessing, or one an HTTP header would mangle (ValueError)."""
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"the token from {setting} has {len(token)} characters; at least {MIN_TOKEN_LENGTH} needed")
    if not _VISIBLE_ASCII.fullmatch(token):
        raise ValueError(f"the token from {setting} must be visible ASCII characters only (no spaces)")


def setting_name(role: Role, token_file: str | Path | None = None) -> str:
    """Where `role`'s token came from, for messages (never the token itself)."""
    file_variable, variable = _SETTINGS[role]
    if token_file:
        return str(token_file)
    return file_variable if os.environ.get(file_variable) else variable
