"""The PII detector where a value's format alone is not enough: what the text calls a value (its key, its
table column's header, the words before it), values glued to scripts written without spaces, numbers the
SSA never issued, PyPI tokens, and the digests and coordinates that must stay no phone numbers."""

from __future__ import annotations

import base64

import pytest

from otel_ai_incident.guardrails.pii import PiiDetector, validators
from otel_ai_incident.guardrails.pii.labels import label_of

DETECTOR = PiiDetector()


def found(text: str) -> list[tuple[str, str]]:
    return [(f.entity_type, text[f.start : f.end]) for f in DETECTOR.scan(text)]


@pytest.mark.parametrize(
    ("text", "value", "label"),
    [
        ("Version: 2.4.7.1", "2.4.7.1", ["version"]),
        ('{"id": 4, "appVersion": "3.1.0.2"}', "3.1.0.2", ["app", "version"]),
        ("ts=1 level=info api_token=Zq7L", "Zq7L", ["info", "api", "token"]),
        ("I checked. The Datadog API key is 4774a2d5.", "4774a2d5", ["the", "datadog", "api", "key"]),
        ("Der Datadog-API-Schlüssel lautet: 4774a2d5", "4774a2d5", ["der", "datadog", "api", "schlüssel"]),
        ("DatadogのAPIキーは4774a2d5です", "4774a2d5", ["datadog", "の", "api", "キー"]),
        ("| service | API key |\n|---|---|\n| datadog | 4774a2d5 |", "4774a2d5", ["api", "key"]),
        ("name,version,host\napp,2.3.4.5,172.16.4.20\n", "2.3.4.5", ["version"]),
        ("name,version,host\napp,2.3.4.5,172.16.4.20\n", "172.16", ["host"]),
        ('id\tnote\n"a\tb"\t4774a2d5', "4774a2d5", ["note"]),
        ("4774a2d5 opens the line", "4774a2d5", []),
    ],
)
def test_label_of_reads_keys_headers_and_prose(text: str, value: str, label: list[str]) -> None:
    assert label_of(text, text.index(value)) == label


# ---------------------------------------------------------------- dotted quads: versions and sections


@pytest.mark.parametrize(
    "text",
    [
        "Version: 2.4.7.1",
        '{"name": "agent", "version": "3.1.0.2"}',
        "app_version=5.0.1.3 started",
        "Release 6.2.0.4 is out; Build: 12.0.3.7.",
        "Firmware v4.1.2.9 shipped, then V 7.1.2.3.",
        "See Section 2.4.1.3 and Section: 3.2.1.4.",
        "Clauses 4.4.2.1 and 4.4.2.2 apply, as does § 7.2.1.1.",
        "Siehe Abschnitt 3.1.4.2 und Kapitel 2.2.1.1.",
        "| Component | Version |\n|---|---|\n| gateway | 8.0.2.14 |",
        "component;version\nscheduler;11.4.0.3\n",
        "component\tbuild\nscheduler\t11.4.0.3\n",
        "| Version number | Notes |\n|---|---|\n| 2.4.7.1 | first |",
        "Sections 3.7.5.9\u20133.7.5.12 were rewritten.",
        "バージョンは2.4.7.1です。規約の第3.7.5.9項を参照。",
    ],
)
def test_dotted_quads_named_as_versions_or_sections_are_no_ip(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("text", "ips"),
    [
        ("host 203.0.113.45 answered", ["203.0.113.45"]),
        ('{"ip": "192.0.2.33", "version": "1.2.3.4"}', ["192.0.2.33"]),
        ("| Version | Host |\n|---|---|\n| 1.4.2.8 | 10.1.2.3 |", ["10.1.2.3"]),
        ("name,version,host\napp,2.3.4.5,172.16.4.20\n", ["172.16.4.20"]),
        ("The release server is 198.51.100.7.", ["198.51.100.7"]),
        ("IP address of the build server: 10.1.2.3", ["10.1.2.3"]),
        ("See 10.44.2.9 for the section editor.", ["10.44.2.9"]),
    ],
)
def test_dotted_quads_elsewhere_stay_ip_addresses(text: str, ips: list[str]) -> None:
    assert found(text) == [("IP_ADDRESS", ip) for ip in ips]


# ---------------------------------------------------------------- SSNs the SSA never issued


@pytest.mark.parametrize(
    "text",
    ["SSN 078-05-1120", "SSN 219-09-9999", "SSN: 123-45-6789", "SSN: 123456789", "SSN 987-65-4321"],
)
def test_voided_and_advertised_ssns_are_not_reported(text: str) -> None:
    assert found(text) == []


def test_ssns_the_rules_allow_are_reported() -> None:
    assert found("SSN 536-22-8147, or 078-05-1121.") == [("US_SSN", "536-22-8147"), ("US_SSN", "078-05-1121")]
    assert found("SSNは536228147です") == [("US_SSN", "536228147")]
    assert not validators.ssn_valid("078-05-1120") and validators.ssn_valid("078-05-1121")


# ---------------------------------------------------------------- PyPI tokens


def _pypi_token(location: bytes, rest: bytes) -> str:
    """A token in PyPI's published form: "pypi-" and a base64url macaroon (v2) with that location."""
    macaroon = b"\x02\x01" + bytes([len(location)]) + location + b"\x02\x24" + rest
    return "pypi-" + base64.urlsafe_b64encode(macaroon).decode().rstrip("=")


PYPI = _pypi_token(b"pypi.org", b"4c0e1d5a-9b7e-4f53-a8c2-6e1f0d3b7a91\x00\x02\x2a" + bytes(range(7, 97)))
TEST_PYPI = _pypi_token(b"test.pypi.org", b"e2a0c8f4-0d7b-4b8e-9f31-5a6c7d8e9f10\x00\x02\x2a" + bytes(range(40, 130)))


@pytest.mark.parametrize(
    "text",
    [
        "token {} end",
        "[pypi]\nusername = __token__\npassword = {}\n",
        "PyPIのトークンは{}です",
        'TWINE_PASSWORD="{}"',
    ],
)
def test_pypi_tokens_are_found(text: str) -> None:
    for token in (PYPI, TEST_PYPI):
        assert found(text.format(token)) == [("SECRET", token)]


def test_pypi_look_alikes_are_not() -> None:
    other_index = _pypi_token(b"example.org", bytes(range(1, 90)))
    placeholder = "pypi-AgEIcHlwaS5vcmc" + "X" * 70
    assert found(f"The string {other_index} is not from PyPI.") == []
    assert found(f"token {placeholder} end") == []


# ---------------------------------------------------------------- secrets without a prefix of their own

AWS_SECRET = "oxwGvUY+OSO8Gq295IsWl2wIBxc3O4GaBo8yt6az"
AZURE_KEY = "i2s4cpZHz94Bws4osmxXRyc39cNWGhdhGFvYWJpDzgu6dYkf+exgFI1L1KCe4txckzG0EQupOsVK/BTaO90ZYQ=="
DD_API = "4774a2d55d295e5a35ab44b3efaea512"
DD_APP = "9ba22b88ba3e29766145fdeca3b08e38af53d7c4"
MAILGUN = "key-c60e3ad208ce5066441036e9f191e0b7"
TWILIO = "SK5036a77f65e2eaa4752443233fbe8f89"
API_TOKEN = "Q7+VbeWVZlw4/8jgn4XwQzc"

LABELLED = [
    ("AWS secret access key", AWS_SECRET),
    ("Azure storage account key", AZURE_KEY),
    ("Datadog API key", DD_API),
    ("Datadog application key", DD_APP),
    ("Mailgun API key", MAILGUN),
    ("Twilio API key", TWILIO),
    ("api_token", API_TOKEN),
]


@pytest.mark.parametrize(("label", "value"), LABELLED)
@pytest.mark.parametrize(
    "layout",
    [
        "{label}: {value}\n",
        "- {label}: {value}\n",
        '{{"service": "billing", "{key}": "{value}"}}',
        "2026-03-02T10:00:00Z level=info {key}={value} user=ops\n",
        "{KEY}={value}\n",
        "service,{label},owner\nbilling,{value},ops\n",
        "service;{label};owner\nbilling;{value};ops\n",
        "service\t{label}\towner\nbilling\t{value}\tops\n",
        "| service | {label} | owner |\n|---|---|---|\n| billing | {value} | ops |\n",
        "For billing, the {label} is {value}.",
        "Rotated last week; the new {label}: {value} (keep it safe).",
    ],
)
def test_secrets_named_by_their_label_are_found_in_every_layout(layout: str, label: str, value: str) -> None:
    key = label.lower().replace(" ", "_")
    text = layout.format(label=label, key=key, KEY=key.upper(), value=value)
    assert found(text) == [("SECRET", value)]


@pytest.mark.parametrize(
    "text",
    [
        f"Der Datadog-API-Schlüssel lautet {DD_API}.",
        f"La clé API Datadog est {DD_API}.",
        f"La clave de API de Datadog es {DD_API}.",
        f"La chiave API di Datadog è {DD_API}",
        f"A chave de API do Datadog é {DD_API}.",
        f"Klucz API Datadog to {DD_API}",
        f"Datadog API-nyckel: {DD_API}",
        f"DatadogのAPIキーは{DD_API}です。",
    ],
)
def test_labelled_secrets_in_other_languages(text: str) -> None:
    assert found(text) == [("SECRET", DD_API)]


@pytest.mark.parametrize(
    "text",
    [
        f"| Key | Value |\n|---|---|\n| region | eu-west-1 |\n| AWS_SECRET_ACCESS_KEY | {AWS_SECRET} |",
        f"name,value\nregion,eu-west-1\naws_secret_access_key,{AWS_SECRET}\n",
        f"AWS secret access key (production): {AWS_SECRET}",
        f"• AWS secret access key → {AWS_SECRET}",
        f"Der geheime Zugriffsschlüssel lautet {AWS_SECRET}.",
    ],
)
def test_secrets_named_in_key_value_tables_remarks_and_compounds(text: str) -> None:
    assert found(text) == [("SECRET", AWS_SECRET)]


def test_a_key_opening_with_a_slash_is_no_path() -> None:
    key = "/" + AWS_SECRET[1:]
    assert found(f"aws_secret_access_key = {key}") == [("SECRET", key)]


def test_a_label_on_the_line_above_and_headers_of_wide_rows() -> None:
    assert found(f"Datadog API key:\n  - `{DD_API}`\n") == [("SECRET", DD_API)]
    assert found(f"Checksum:\n{DD_API}\n") == []
    assert found(f"Notes\n{DD_API}\n") == []
    wide = f"account,region,storage_account_key,owner\n{'billingprod' * 8},westeurope,{AZURE_KEY},ops\n"
    assert found(wide) == [("SECRET", AZURE_KEY)]
    assert found(f"name,notes,version\n{'n' * 90},x,2.4.7.1\n") == []


@pytest.mark.parametrize(
    "text",
    [
        f"sha256: {DD_API}{DD_API}",
        f"md5 {DD_API}, sha1 {DD_APP}",
        f"Fixed in commit {DD_APP}.",
        f"file,checksum\nreport.pdf,{DD_API}\n",
        f"| artifact | digest |\n|---|---|\n| app.tar | {DD_APP} |",
        f"The upload {DD_API} finished; its ETag is {DD_APP}.",
        "request_id=4c0e1d5a-9b7e-4f53-a8c2-6e1f0d3b7a91 api_key=4c0e1d5a-9b7e-4f53-a8c2-6e1f0d3b7a91",
        f"access key id: {DD_APP}",
        f"Idempotency-Key: {DD_API}",
        f"public key {AZURE_KEY}",
        f"{DD_API} {AWS_SECRET} {TWILIO}",
        "api_key: ${DATADOG_API_KEY}, token: <YOUR_TOKEN_HERE>, secret: your-secret-here-1234",
        "token_path: /var/run/secrets/tokens/api-token-2026",
        "Get a new token at https://auth.example.com/v2/tokens/new2026 and paste it below.",
        "secret stored in /etc/app2026/secrets/db_password",
    ],
)
def test_random_looking_values_not_named_as_secrets_stay_unreported(text: str) -> None:
    assert found(text) == []


# ---------------------------------------------------------------- scripts written without spaces


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("メールはtaro@example.jpです", [("EMAIL", "taro@example.jp")]),
        ("連絡先\uff1ahanako.sato@mail.example.co.jpまでお願いします", [("EMAIL", "hanako.sato@mail.example.co.jp")]),
        ("山田太郎@例え.jp", [("EMAIL", "山田太郎@例え.jp")]),
        ("連絡先\uff1a山田.太郎@例え.jp", [("EMAIL", "山田.太郎@例え.jp")]),
        ("田中123@例え.jpまで", [("EMAIL", "田中123@例え.jp")]),
        ("さくら_2024@example.jp", [("EMAIL", "さくら_2024@example.jp")]),
        ("メールはtaro.yamada2@example.jpです", [("EMAIL", "taro.yamada2@example.jp")]),
        ("邮箱是wang.lei@example.cn谢谢", [("EMAIL", "wang.lei@example.cn")]),
        ("jimin@example.kr으로 보내 주세요", [("EMAIL", "jimin@example.kr")]),
        ("IBANはDE89370400440532013000です", [("IBAN", "DE89370400440532013000")]),
        ("サーバーは2001:db8::1です", [("IP_ADDRESS", "2001:db8::1")]),
        ("IPは192.168.3.4です", [("IP_ADDRESS", "192.168.3.4")]),
        ("カード4111111111111111です", [("CREDIT_CARD", "4111111111111111")]),
        ("電話は090-1234-5678です", [("PHONE", "090-1234-5678")]),
        (
            "トークンはghp_R8mWq2Zt5Lk9Xv3Nc7Bp1Hd4Fs6Jg0Ya2Ue8iです",
            [("SECRET", "ghp_R8mWq2Zt5Lk9Xv3Nc7Bp1Hd4Fs6Jg0Ya2Ue8i")],
        ),
    ],
)
def test_values_glued_to_unspaced_scripts(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


def test_redaction_around_unspaced_scripts_keeps_the_words() -> None:
    assert DETECTOR.redact("メールはtaro@example.jpです") == "メールは[EMAIL]です"


@pytest.mark.parametrize("text", ["user.name@example.com5", "mail jürgen@bücher.deü", "x@y.z"])
def test_addresses_glued_to_spaced_letters_are_not_addresses(text: str) -> None:
    assert [entity for entity, _ in found(text)] == []


# ---------------------------------------------------------------- digests and coordinates are no phones


@pytest.mark.parametrize(
    "text",
    [
        "Contact: see commit 8412097 for the fix.",
        "Call after the build 8412097 is deployed? No: rev 5513208.",
        "The office is at -33.868820, 151.209290.",
        "Coordinates (35.689487, 139.691706) and 48.8566 2.3522.",
        "lat,lon\n52.520008,13.404954\n",
        "The depot is at -0.1276474, 51.5073509.",
        "| commit | author |\n|---|---|\n| 5513208 | ana |",
    ],
)
def test_digests_and_coordinates_are_no_phone_numbers(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize("phone", ["415.555.2671", "01.23.45.67.89", "+1 415.555.2671", "030.1234567"])
def test_phones_written_with_dots_stay_phones(phone: str) -> None:
    assert found(f"Call {phone} today.") == [("PHONE", phone)]


def test_phones_beside_a_digest_column_stay_phones() -> None:
    assert found("commit,phone\n5513208,+44 20 7946 0958\n") == [("PHONE", "+44 20 7946 0958")]
