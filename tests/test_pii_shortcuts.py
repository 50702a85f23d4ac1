"""The scanner's shortcuts give the answers of the checks they stand in for, on inputs built to disagree."""

from __future__ import annotations

import re

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_ai_incident.guardrails.pii import validators
from otel_ai_incident.guardrails.pii.digit_runs import NUMBER_RUN
from otel_ai_incident.guardrails.pii.patterns import _is_ipv6
from otel_ai_incident.guardrails.pii.phones import _possible
from otel_ai_incident.guardrails.pii.text import count_digits

_GROUP = r"(?:\(\d{1,5}\)|\d++)"
_SLASH = r"(?:(?<=\b0\d)|(?<=\b0\d\d)|(?<=\b0\d{3})|(?<=\b0\d{4})|(?<=\b0\d{5}))/"
_PLAIN_RUN = re.compile(rf"(?=[\d+() .\-/]{{7}})(?:\+{_GROUP}|{_GROUP})(?:(?:[ .\-]|(?<=\))|{_SLASH}){_GROUP})*+")
_HEXTETS = st.sampled_from(["", "0", "1", "ff", "db8", "abcd", "12345", "g1", "1.2.3.4", "10.0.0.256"])


@given(st.text(alphabet=st.sampled_from([*"0123456789a é\n+-", "\ud800", "\u0663", "\uff10"])))
def test_digit_count_is_the_count_of_ascii_digits(text: str) -> None:
    assert count_digits(text) == sum(map(text.count, "0123456789"))


@settings(max_examples=500)
@given(st.lists(_HEXTETS, min_size=1, max_size=10), st.sampled_from(["", "%eth0", "%1", "%"]))
def test_ipv6_colon_count_turns_away_only_what_ipaddress_rejects(hextets: list[str], zone: str) -> None:
    value = ":".join(hextets) + zone
    assert _is_ipv6(value) == (any(ch.isdigit() for ch in value) and validators.ip_version(value) == 6)


def test_ipv6_shortcut_keeps_full_and_embedded_forms() -> None:
    assert _is_ipv6("2001:db8:0:0:0:0:0:1") and _is_ipv6("0:0:0:0:0:ffff:10.0.0.1") and _is_ipv6("fe80::1%eth0")
    assert not _is_ipv6("00:1a:2b:3c:4d:5e")  # a MAC address: six groups


@settings(max_examples=300)
@given(
    st.sampled_from([1, 7, 33, 39, 44, 49, 55, 81, 91, 353, 800, 882, 979]),
    st.text(alphabet="0123456789", min_size=1, max_size=19),
)
def test_phone_possibility_is_phonenumbers_own(country_code: int, national: str) -> None:
    leading_zero = True if national[0] == "0" else None
    number = phonenumbers.PhoneNumber(
        country_code=country_code, national_number=int(national), italian_leading_zero=leading_zero
    )
    assert _possible(number) == phonenumbers.is_possible_number(number)


@given(st.text(alphabet=st.sampled_from(list("0123456789 .-/()+x")), max_size=40))
def test_runs_are_those_of_the_plain_form(text: str) -> None:
    """The run regex reads its first character before anything else; the plain form says what a run is."""
    assert [m.span() for m in NUMBER_RUN.finditer(text)] == [m.span() for m in _PLAIN_RUN.finditer(text)]
