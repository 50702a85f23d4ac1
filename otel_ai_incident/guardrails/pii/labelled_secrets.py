"""SECRET values with no prefix of their own, found by what the text calls them.

An AWS secret access key (40 base64 characters), an Azure storage account key (88), a Datadog API or
application key (32 or 40 hex digits), a Mailgun `key-...` or a Twilio `SK...` key look like any digest,
UUID or random id. Such a value counts as a secret only when its label (the key before it, the header of its
table column or the words of a sentence, see `labels`) names a secret, and names nothing that is public by
design: a hash, a checksum, an id, a path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from otel_ai_incident.guardrails.pii import validators
from otel_ai_incident.guardrails.pii.findings import SECRET, Finding
from otel_ai_incident.guardrails.pii.labels import label_of
from otel_ai_incident.guardrails.pii.text import TextView, any_of

# A run of base64, base64url and token characters with its "=" padding; dots that open or end it are the
# text's, not the value's. The run is ASCII: a value glued to Japanese text ("キーは8f3a...") is still one.
_RUN = re.compile(r"[A-Za-z0-9_\-+/~.]{16,}+=*")
_MIN_VALUE = 16
_DIGIT = re.compile(r"\d")
_PATH = re.compile(r"/[a-z0-9_\-/]+")  # keys in base64 may open with "/" too, but then hold capitals or "+"
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# Words that name a secret on their own, in the languages the scanner reads ("geheimer", "tajny klucz").
_SECRET_WORDS = frozenset(
    [
        "secret",
        "secrets",
        "apikey",
        "apitoken",
        "accesskey",
        "secretkey",
        "privatekey",
        "accesstoken",
        "authtoken",
        "token",
        "tokens",
        "credential",
        "credentials",
        "jeton",
        "secreta",
        "secreto",
        "secrète",
        "secrete",
        "segreta",
        "segreto",
        "segredo",
        "geheim",
        "geheimer",
        "geheime",
        "geheimes",
        "geheimnis",
        "hemlig",
        "hemliga",
        "hemlighet",
        "tajny",
        "tajna",
        "tajne",
        "sekret",
        "トークン",
        "シークレット",
        "秘密",
    ]
)
# "key" in those languages names a secret only beside a word saying whose or what for: "API key", "clé API".
_KEY_WORDS = frozenset(["key", "keys", "clé", "cle", "clave", "chiave", "klucz", "chave", "キー", "鍵"])
# Languages that compound write the qualifier into the word: "Zugriffsschlüssel", "åtkomstnyckel".
_COMPOUND_KEY_ENDINGS = ("schlüssel", "nyckel", "sleutel", "nøgle", "nøkkel")
_KEY_QUALIFIERS = frozenset(
    [
        "api",
        "app",
        "application",
        "access",
        "account",
        "storage",
        "private",
        "signing",
        "master",
        "client",
        "auth",
        "aws",
        "azure",
        "datadog",
        "dd",
        "mailgun",
        "twilio",
        "sendgrid",
        "stripe",
        "openai",
        "anthropic",
    ]
)
# Words that say the value is public by design, or no key at all, whatever else the label says.
_PUBLIC_WORDS = frozenset(
    [
        "id",
        "ids",
        "uuid",
        "guid",
        "hash",
        "hashed",
        "digest",
        "checksum",
        "sha",
        "sha1",
        "sha256",
        "sha512",
        "md5",
        "crc",
        "fingerprint",
        "etag",
        "commit",
        "public",
        "path",
        "file",
        "url",
        "uri",
        "name",
        "tracking",
        "order",
        "invoice",
    ]
)


def names_secret(label: list[str]) -> bool:
    """Whether the words of a label name a secret (a secret word, or a key word with a qualifier) and no
    word of the label names something public."""
    if not label or not _PUBLIC_WORDS.isdisjoint(label):
        return False
    if not _SECRET_WORDS.isdisjoint(label):
        return True
    qualified = not _KEY_QUALIFIERS.isdisjoint(label)
    for word in label:
        ending = next((ending for ending in _COMPOUND_KEY_ENDINGS if word.endswith(ending)), None)
        if ending is not None and (qualified or len(word) > len(ending)):
            return True
    return qualified and not _KEY_WORDS.isdisjoint(label)


# Every secret or key word holds one of these; a text without any has no label naming a secret.
_GATE = any_of(
    "secret",
    "token",
    "key",
    "credential",
    "jeton",
    "secre",
    "segre",
    "sekret",
    "geheim",
    "hemlig",
    "tajn",
    "schlüssel",
    "nyckel",
    "sleutel",
    "nøgle",
    "nøkkel",
    "clé",
    "cle",
    "clave",
    "chiave",
    "klucz",
    "chave",
    "キー",
    "鍵",
    "トークン",
    "シークレット",
    "秘密",
)


class LabelledSecretRecognizer:
    """Random-looking token values whose label names a secret."""

    entity_type = SECRET

    def find(self, view: TextView) -> Iterator[Finding]:
        if not _GATE(view):
            return
        text = view.text
        for match in _RUN.finditer(text):
            run = match.group()
            value = run.lstrip(".")
            start = match.start() + len(run) - len(value)
            value = value.rstrip(".")
            if len(value) < _MIN_VALUE:
                continue
            if ("." in value and (not _DIGIT.search(value) or "/" in value)) or _PATH.fullmatch(value):
                continue  # words run together at a sentence end ("configuration.Sure"), a path or URL
            if not validators.looks_random(value) or not validators.not_placeholder(value) or _UUID.fullmatch(value):
                continue
            if names_secret(label_of(text, start, view.table_tops)):
                yield Finding(SECRET, start, start + len(value), "labelled_secret")
