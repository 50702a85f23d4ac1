"""The SECRET recogniser: API keys, tokens and private keys of the common providers, one regex each, and
values without a prefix of their own named by their label (`labelled_secrets`).

Each pattern has its own gate (a token prefix that must occur), and all of them sit behind one shared gate,
a run of token characters long enough for any secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from otel_ai_incident.guardrails.pii import validators
from otel_ai_incident.guardrails.pii.findings import SECRET, Finding
from otel_ai_incident.guardrails.pii.labelled_secrets import LabelledSecretRecognizer
from otel_ai_incident.guardrails.pii.patterns import RegexRecognizer
from otel_ai_incident.guardrails.pii.text import TextView, any_of

_B64 = r"[A-Za-z0-9+/=]"
_PEM_SEP = r"(?:\\n|\s)++"
_PEM = (
    r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    rf"(?:{_PEM_SEP}(?:{_B64}{{16,}}+|{_B64}++(?={_PEM_SEP}-----END)|(?:Proc-Type|DEK-Info):[^\r\n\\]*+))*+"
    rf"(?:{_PEM_SEP}-----END [A-Z0-9 ]{{0,40}}PRIVATE KEY(?: BLOCK)?-----)?"
)
# Each secret: subtype, regex, gate hints (lower case), check on the value, bounded (see RegexRecognizer).
_SECRET_SPECS: tuple[tuple[str, str, tuple[str, ...], Callable[[str], bool] | None, bool], ...] = (
    ("pem_private_key", _PEM, ("private key-----", "private key block-----"), None, False),
    ("aws_access_key_id", r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}", ("akia", "asia", "abia", "acca"), None, True),
    ("gcp_api_key", r"AIza[0-9A-Za-z_\-]{35}", ("aiza",), None, True),
    ("gcp_oauth_token", r"ya29\.[0-9A-Za-z_\-]{20,}+", ("ya29.",), None, True),
    ("azure_storage_key", r"AccountKey=(?P<value>[A-Za-z0-9+/]{86}==)", ("accountkey=",), None, False),
    ("azure_client_secret", r"[A-Za-z0-9_.\-]{3}\dQ~[A-Za-z0-9_~.\-]{30,33}[A-Za-z0-9_~\-]", ("q~",), None, True),
    ("jwt", r"eyJ[A-Za-z0-9_\-]{2,}+\.[A-Za-z0-9_\-]{2,}+\.[A-Za-z0-9_\-]*+", ("eyj",), validators.jwt_valid, True),
    (
        "bearer_token",
        r"[Bb](?:earer|EARER)[ \t]++(?P<value>[A-Za-z0-9\-._~+/]{16,}+=*)",
        ("bearer",),
        validators.looks_random,
        False,
    ),
    (
        "github_token",
        r"gh[pousr]_[A-Za-z0-9]{36,255}+|github_pat_[A-Za-z0-9_]{22,255}+",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        None,
        True,
    ),
    ("slack_token", r"xox[abposr]-[A-Za-z0-9\-]{10,}+|xapp-\d-[A-Za-z0-9\-]{10,}+", ("xox", "xapp-"), None, True),
    (
        "slack_webhook",
        r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{16,}+",
        ("hooks.slack.com",),
        None,
        True,
    ),
    ("stripe_key", r"[sr]k_(?:live|test)_[A-Za-z0-9]{16,}+", ("k_live_", "k_test_"), None, True),
    ("gitlab_token", r"gl(?:pat|ptt|dt|rt)-[A-Za-z0-9_\-]{20,}+", ("glpat-", "glptt-", "gldt-", "glrt-"), None, True),
    ("huggingface_token", r"hf_[A-Za-z]{34}", ("hf_",), None, True),
    ("npm_token", r"npm_[A-Za-z0-9]{36}", ("npm_",), None, True),
    ("shopify_token", r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}", ("shpat_", "shpss_", "shpca_", "shppa_"), None, True),
    ("digitalocean_token", r"do[opr]_v1_[a-f0-9]{64}", ("_v1_",), None, True),
    ("sendgrid_key", r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}", ("sg.",), None, True),
    ("google_oauth_client_secret", r"GOCSPX-[A-Za-z0-9_\-]{28}", ("gocspx-",), None, True),
    ("pypi_token", r"pypi-AgE[A-Za-z0-9_\-]{50,}+", ("pypi-",), validators.pypi_token_valid, True),
    ("llm_api_key", r"sk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_\-]{32,}+", ("sk-",), validators.looks_random, True),
)


# Every secret value holds 15 token characters in a row (the shortest, a Slack token, is "xoxb-" and ten
# more); prose seldom does, as its words are shorter and end at spaces. The first character comes first, so
# the engine skips to token characters in C, and the lookbehind stops at once inside a run already tried.
_TOKEN_RUN = re.compile(r"[A-Za-z0-9_\-+/=.~](?<![A-Za-z0-9_\-+/=.~].)[A-Za-z0-9_\-+/=.~]{14}")


# Values with an inner structure of their own, where runs of one character are normal (the zero bytes of an
# OpenSSH key) and no one writes a placeholder.
_STRUCTURED = frozenset(("pem_private_key", "jwt"))


def _rejecting_placeholders(check: Callable[[str], bool] | None) -> Callable[[str], bool]:
    """`check`, and the value is no documentation placeholder."""
    if check is None:
        return validators.not_placeholder
    return lambda value: check(value) and validators.not_placeholder(value)


class SecretRecognizer:
    """Every secret pattern behind one shared gate, then each behind its own.

    Most replies hold no run of token characters long enough for any secret, and one regex search says so
    for less than the substring tests of every pattern's own gate.
    """

    entity_type = SECRET

    def __init__(self) -> None:
        self._labelled = LabelledSecretRecognizer()
        # Each pattern's gate is kept beside it and asked here, so a pattern whose prefix is absent costs one
        # gate call, not a generator: most replies with a token-like run hold one or two kinds of secret.
        self._members = tuple(
            (
                any_of(*hints),
                RegexRecognizer(
                    SECRET,
                    subtype,
                    re.compile(regex),
                    None,
                    check if subtype in _STRUCTURED else _rejecting_placeholders(check),
                    bounded,
                ),
            )
            for subtype, regex, hints, check, bounded in _SECRET_SPECS
        )

    def find(self, view: TextView) -> Iterator[Finding]:
        if _TOKEN_RUN.search(view.text) is None:
            return
        for gate, member in self._members:
            if gate(view):
                yield from member.find(view)
        yield from self._labelled.find(view)
