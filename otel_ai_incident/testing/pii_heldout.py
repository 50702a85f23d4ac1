"""A held-out PII evaluation set: seeded assistant replies in several locales and layouts, kept apart from
the set the detector is tuned on (`pii_cases`) so that a gap between the two shows over-fitting.

Values come from `pii_heldout_values` (public format references). Each reply has a locale (its names,
labels, e-mail domains, phone region, IBAN country and sentence forms) and a style: prose, CSV (comma or
semicolon), TSV, markdown table, JSON, key: value list, bullet list, e-mail signature or log lines. Labels
and delimiters stay outside the gold spans. A quarter of the replies hold no PII, only hard negatives.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from otel_ai_incident.guardrails.pii.findings import (
    CREDIT_CARD,
    EMAIL,
    IBAN,
    IP_ADDRESS,
    PHONE,
    SECRET,
    US_SSN,
    Finding,
)
from otel_ai_incident.testing import pii_heldout_values as values
from otel_ai_incident.testing.pii_cases import Case, ReplyBuilder, Score, evaluate, micro


@dataclass(frozen=True, slots=True)
class Locale:
    code: str
    region: str  # phone region
    iban_country: str
    names: tuple[tuple[str, str], ...]
    domains: tuple[str, ...]
    idn_emails: tuple[str, ...]  # internationalised addresses written as people use them
    labels: dict[str, str]  # entity -> field label in the locale's language
    sentence: str  # "{label}", "{name}" and "{}" (the value)
    csv_separator: str


_EN_LABELS = {EMAIL: "Email", PHONE: "Phone", CREDIT_CARD: "Card number", IBAN: "IBAN", US_SSN: "SSN"}
LOCALES = (
    Locale(
        "en-US",
        "US",
        "GB",
        (("John", "Miller"), ("Emily", "Carter"), ("Carlos", "Reyes")),
        ("gmail.com", "acme-corp.com", "mail.example.org"),
        ("jane.doe@münchen-reisen.com",),
        _EN_LABELS,
        "The {label} on the account is {}.",
        ",",
    ),
    Locale(
        "en-GB",
        "GB",
        "GB",
        (("Oliver", "Hughes"), ("Amelia", "Wright")),
        ("btinternet.com", "nhs.net", "company.co.uk"),
        ("o.hughes@bücherei.co.uk",),
        {**_EN_LABELS, PHONE: "Tel"},
        "{name}'s {label} is {}.",
        ",",
    ),
    Locale(
        "de",
        "DE",
        "DE",
        (("Jürgen", "Müller"), ("Anna", "Schmidt"), ("Lukas", "Weiß")),
        ("gmx.de", "web.de", "firma.de"),
        ("jürgen.müller@bücher.de", "info@xn--bcher-kva.de", "kontakt@straße.de"),
        {EMAIL: "E-Mail", PHONE: "Telefon", CREDIT_CARD: "Kartennummer", IBAN: "IBAN", US_SSN: "SSN"},
        "{label} von {name}: {}.",
        ";",
    ),
    Locale(
        "fr",
        "FR",
        "FR",
        (("François", "Dubois"), ("Chloé", "Martin")),
        ("orange.fr", "free.fr", "societe.fr"),
        ("françois.dubois@société.fr", "chloé@exemple.fr"),
        {EMAIL: "Courriel", PHONE: "Téléphone", CREDIT_CARD: "Numéro de carte", IBAN: "IBAN", US_SSN: "SSN"},
        "Le {label} de {name} est {}.",
        ";",
    ),
    Locale(
        "es",
        "ES",
        "ES",
        (("José", "García"), ("Lucía", "Fernández")),
        ("telefonica.es", "correo.es", "empresa.es"),
        ("josé.garcía@correo.es", "lucía@españa.es"),
        {EMAIL: "Correo", PHONE: "Teléfono", CREDIT_CARD: "Tarjeta", IBAN: "IBAN", US_SSN: "SSN"},
        "El {label} de {name} es {}.",
        ";",
    ),
    Locale(
        "pl",
        "PL",
        "PL",
        (("Zofia", "Kowalska"), ("Łukasz", "Nowak")),
        ("wp.pl", "onet.pl", "firma.pl"),
        ("zofia.łąka@poczta.pl", "łukasz@żółw.pl"),
        {EMAIL: "E-mail", PHONE: "Telefon", CREDIT_CARD: "Numer karty", IBAN: "Numer konta", US_SSN: "SSN"},
        "{label} ({name}): {}.",
        ";",
    ),
    Locale(
        "pt-BR",
        "BR",
        "BR",
        (("João", "Silva"), ("Ana", "Souza")),
        ("uol.com.br", "gmail.com", "empresa.com.br"),
        ("joão.silva@empresa.com.br", "ana@ação.com.br"),
        {EMAIL: "E-mail", PHONE: "Telefone", CREDIT_CARD: "Cartão", IBAN: "IBAN", US_SSN: "SSN"},
        "O {label} de {name} é {}.",
        ";",
    ),
    Locale(
        "ja",
        "JP",
        "DE",
        (("Taro", "Yamada"), ("Hanako", "Sato")),
        ("yahoo.co.jp", "docomo.ne.jp", "kaisha.co.jp"),
        ("山田太郎@例え.jp", "yamada@日本語.jp"),
        {EMAIL: "メール", PHONE: "電話番号", CREDIT_CARD: "カード番号", IBAN: "IBAN", US_SSN: "SSN"},
        "{name}様の{label}は {} です。",
        ",",
    ),
    Locale(
        "it",
        "IT",
        "IT",
        (("Giulia", "Rossi"), ("Marco", "Bianchi")),
        ("libero.it", "tim.it", "azienda.it"),
        ("giulia.rossi@università.it",),
        {EMAIL: "Email", PHONE: "Telefono", CREDIT_CARD: "Numero carta", IBAN: "IBAN", US_SSN: "SSN"},
        "Il {label} di {name} è {}.",
        ";",
    ),
    Locale(
        "nl",
        "NL",
        "NL",
        (("Daan", "de Vries"), ("Sanne", "Jansen")),
        ("ziggo.nl", "kpn.nl", "bedrijf.nl"),
        ("daan@café.nl",),
        {EMAIL: "E-mail", PHONE: "Telefoon", CREDIT_CARD: "Kaartnummer", IBAN: "IBAN", US_SSN: "SSN"},
        "Het {label} van {name} is {}.",
        ";",
    ),
)
STYLES = ("prose", "csv", "tsv", "markdown", "json", "key_value", "bullets", "signature", "log")
DELIMITED = frozenset(("csv", "tsv", "markdown"))

# A second held-out set, written after the detector was changed and measured without changing it since:
# locales and layouts the first set does not have. Mexico, Sweden, Czechia and Turkey are not among the
# detector's default phone regions, so their national numbers measure what a deployment that does not list
# them sees.
UNSEEN_LOCALES = (
    Locale(
        "en-AU",
        "AU",
        "GB",
        (("Jack", "Wilson"), ("Chloe", "Nguyen")),
        ("bigpond.com", "company.com.au"),
        ("j.wilson@café-sydney.com.au",),
        {**_EN_LABELS, PHONE: "Mobile"},
        "You can reach {name} on {}.",
        ",",
    ),
    Locale(
        "en-IN",
        "IN",
        "GB",
        (("Priya", "Sharma"), ("Rahul", "Verma")),
        ("rediffmail.com", "company.co.in"),
        ("priya@डाकघर.भारत",),
        {**_EN_LABELS, PHONE: "Mobile"},
        "{name}'s {label} is {}.",
        ",",
    ),
    Locale(
        "es-MX",
        "MX",
        "ES",
        (("Alejandro", "Hernández"), ("Sofía", "López")),
        ("prodigy.net.mx", "empresa.com.mx"),
        ("sofía@correo.mx",),
        {EMAIL: "Correo", PHONE: "Tel.", CREDIT_CARD: "Tarjeta", IBAN: "Cuenta", US_SSN: "SSN"},
        "Puede llamar a {name} al {}.",
        ",",
    ),
    Locale(
        "sv",
        "SE",
        "SE",
        (("Erik", "Johansson"), ("Åsa", "Lindqvist")),
        ("telia.com", "foretag.se"),
        ("åsa.lindqvist@företag.se",),
        {EMAIL: "E-post", PHONE: "Telefon", CREDIT_CARD: "Kortnummer", IBAN: "IBAN", US_SSN: "SSN"},
        "{name}s {label} är {}.",
        ";",
    ),
    Locale(
        "cs",
        "CZ",
        "CZ",
        (("Jan", "Novák"), ("Tereza", "Dvořáková")),
        ("seznam.cz", "firma.cz"),
        ("tereza@dvořák.cz",),
        {EMAIL: "E-mail", PHONE: "Telefon", CREDIT_CARD: "Číslo karty", IBAN: "IBAN", US_SSN: "SSN"},
        "{label} ({name}): {}.",
        ";",
    ),
    Locale(
        "tr",
        "TR",
        "TR",
        (("Mehmet", "Y\u0131lmaz"), ("Ayşe", "Kaya")),
        ("hotmail.com.tr", "sirket.com.tr"),
        ("ayşe.kaya@şirket.com.tr",),
        {EMAIL: "E-posta", PHONE: "Telefon", CREDIT_CARD: "Kart numaras\u0131", IBAN: "IBAN", US_SSN: "SSN"},
        "{name} için {label}: {}.",
        ";",
    ),
)
UNSEEN_STYLES = ("yaml", "xml", "quoted", "html", "sql")
_TABLE_STYLES = DELIMITED | {"html", "sql"}


@dataclass(frozen=True, slots=True)
class HeldoutCase:
    case: Case
    locale: str
    style: str


Field = tuple[str, str, str | None]  # (label, value, entity type or None)


def _value(rng: random.Random, locale: Locale, entity: str, person: tuple[str, str]) -> str:
    if entity == EMAIL:
        if rng.random() < 0.3:
            return rng.choice(locale.idn_emails)
        return values.email(rng, person[0], person[1].replace(" ", ""), locale.domains)
    if entity == PHONE:
        return values.phone(rng, locale.region)
    if entity == CREDIT_CARD:
        return values.card(rng)
    if entity == IBAN:
        return values.iban(rng, rng.choice((locale.iban_country, locale.iban_country, *values.IBAN_LAYOUTS)))
    if entity == US_SSN:
        return values.ssn(rng)
    return values.ip_address(rng)


def _neutral(rng: random.Random, kind: int) -> Field:
    if kind == 0:
        return "Order", f"{rng.randint(10_000_000, 99_999_999)}", None
    if kind == 1:
        return (
            "Date",
            f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
            None,
        )
    if kind == 2:
        return "Amount", f"{rng.randint(5, 9999)}.{rng.randint(0, 99):02d}", None
    if kind == 3:
        return "Status", rng.choice(("active", "pending", "closed", "refunded")), None
    return "Ref", f"INV-{rng.randint(2020, 2026)}-{rng.randint(100_000, 999_999)}", None


def _entities(locale: Locale) -> tuple[str, ...]:
    pii = (EMAIL, PHONE, CREDIT_CARD, IBAN, IP_ADDRESS)
    return (*pii, US_SSN, US_SSN, US_SSN) if locale.code == "en-US" else pii


def _records(rng: random.Random, locale: Locale, positive: bool, style: str) -> tuple[list[str], list[list[Field]]]:
    """Column labels and rows; tabular styles share one set of columns."""
    kinds = []
    if positive:
        kinds = rng.sample(_entities(locale), rng.randint(1, 3))
        kinds = list(dict.fromkeys(kinds))
    neutral_count = rng.randint(0 if positive else 1, 2)
    rows = []
    neutral_kinds = [rng.randrange(5) for _ in range(neutral_count)]
    for _ in range(rng.randint(1, 4) if style in _TABLE_STYLES or style == "log" else 1):
        person = rng.choice(locale.names)
        row: list[Field] = [("Name", f"{person[0]} {person[1]}", None)]
        for entity in kinds:
            label = "IP" if entity == IP_ADDRESS else locale.labels[entity]
            row.append((label, _value(rng, locale, entity, person), entity))
        row.extend(_neutral(rng, kind) for kind in neutral_kinds)
        rows.append(row)
    return [f[0] for f in rows[0]], rows


def _render_table(
    reply: ReplyBuilder, rng: random.Random, style: str, locale: Locale, columns: list[str], rows: list[list[Field]]
) -> None:
    if style in ("html", "sql"):
        _render_markup_table(reply, style, columns, rows)
        return
    if style == "markdown":
        reply.add("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n")
        for row in rows:
            reply.add("|")
            for _, value, entity in row:
                reply.add(" ")
                reply.add(value, entity)
                reply.add(" |")
            reply.add("\n")
        return
    sep = "\t" if style == "tsv" else locale.csv_separator
    quote = style == "csv" and rng.random() < 0.3
    reply.add(sep.join(columns) + "\n")
    for row in rows:
        for index, (_, value, entity) in enumerate(row):
            if index:
                reply.add(sep)
            reply.add('"' if quote else "")
            reply.add(value, entity)
            reply.add('"' if quote else "")
        reply.add("\n")


def _render_markup_table(reply: ReplyBuilder, style: str, columns: list[str], rows: list[list[Field]]) -> None:
    """An HTML table, or an SQL INSERT of the rows."""
    if style == "html":
        reply.add("<table>\n<tr>" + "".join(f"<th>{column}</th>" for column in columns) + "</tr>\n")
        opener, closer, between, end = "<tr>", "</tr>\n", "", "</table>"
        cell_open, cell_close = "<td>", "</td>"
    else:
        names = ", ".join(column.lower().replace(" ", "_") for column in columns)
        reply.add(f"```sql\nINSERT INTO customers ({names}) VALUES\n")
        opener, closer, between, end = "(", ")", ",\n", ";\n```"
        cell_open, cell_close = "'", "'"
    for index, row in enumerate(rows):
        reply.add((between if index else "") + opener)
        for position, (_, value, entity) in enumerate(row):
            reply.add((", " if position and style == "sql" else "") + cell_open)
            reply.add(value, entity)
            reply.add(cell_close)
        reply.add(closer)
    reply.add(end)


def _render_row(reply: ReplyBuilder, rng: random.Random, style: str, locale: Locale, row: list[Field]) -> None:
    name = row[0][1]
    if style == "json":
        reply.add("```json\n{")
        for index, (label, value, entity) in enumerate(row):
            reply.add((", " if index else "") + json.dumps(label.lower().replace(" ", "_")) + ': "')
            reply.add(value, entity)
            reply.add('"')
        reply.add("}\n```")
        return
    for index, (label, value, entity) in enumerate(row):
        if style == "prose":
            if index == 0:
                continue
            sentence = f"{label}: {{}}." if entity is None else locale.sentence
            label = label.lower() if locale.code.startswith("en") else label
            before, _, after = sentence.replace("{label}", label).replace("{name}", name).partition("{}")
            reply.add(before)
            reply.add(value, entity)
            reply.add(after + " ")
        elif style == "key_value":
            reply.add(f"{label}{rng.choice((': ', ': ', ':', ' = '))}")
            reply.add(value, entity)
            reply.add("\n")
        elif style == "bullets":
            reply.add(f"{rng.choice(('- ', '* ', '• '))}{label}: ")
            reply.add(value, entity)
            reply.add("\n")
        elif style == "yaml":
            reply.add(("```yaml\n" if index == 0 else "") + label.lower().replace(" ", "_") + ": ")
            quote = '"' if rng.random() < 0.4 else ""
            reply.add(quote)
            reply.add(value, entity)
            reply.add(quote + "\n" + ("```" if index == len(row) - 1 else ""))
        elif style == "xml":
            tag = "".join(ch for ch in label.lower() if ch.isalpha())
            reply.add(("<customer>\n" if index == 0 else "") + f"  <{tag}>")
            reply.add(value, entity)
            reply.add(f"</{tag}>\n" + ("</customer>" if index == len(row) - 1 else ""))
        elif style == "quoted":
            reply.add(f"> {label}: ")
            reply.add(value, entity)
            reply.add("\n")
        elif style == "signature":
            reply.add("--\n" if index == 0 else rng.choice((f"{label}: ", "")))
            reply.add(value, entity)
            reply.add("\n")


def _render_log(reply: ReplyBuilder, rng: random.Random, rows: list[list[Field]]) -> None:
    for row in rows:
        reply.add(values.timestamp(rng) + " INFO request")
        for label, value, entity in row[1:]:
            reply.add(f" {label.lower().replace(' ', '_')}=")
            reply.add(value, entity)
        reply.add("\n")


_OPENERS = {
    "en": "Here are the details you asked for:\n",
    "de": "Hier sind die Angaben:\n",
    "fr": "Voici les informations :\n",
    "es": "Aquí están los datos:\n",
    "pl": "Oto dane:\n",
    "pt": "Seguem os dados:\n",
    "ja": "ご依頼の情報です。\n",
    "it": "Ecco i dati:\n",
    "nl": "Hier zijn de gegevens:\n",
    "sv": "Här är uppgifterna:\n",
    "cs": "Zde jsou údaje:\n",
    "tr": "İstediğiniz bilgiler:\n",
}


def _glued(rng: random.Random, reply: ReplyBuilder, locale: Locale) -> None:
    """A value written straight after its label, as in `Card no.5444...` or `電話:03-...`."""
    entity = rng.choice((CREDIT_CARD, PHONE, IBAN, EMAIL))
    label = {CREDIT_CARD: "Card no.", PHONE: rng.choice(("Tel.:", "Tel:", "Ph.")), IBAN: "IBAN:", EMAIL: "E-mail:"}[
        entity
    ]
    if locale.code == "ja":
        label = locale.labels[entity] + "\uff1a"  # the full-width colon of Japanese text
    reply.add(label)
    reply.add(_value(rng, locale, entity, locale.names[0]), entity)
    reply.add("\n")


def _secret_block(rng: random.Random, reply: ReplyBuilder, style: str) -> None:
    before, value, after = values.secret(rng)
    if style == "json" and before and not before.startswith("Default"):
        key = before.strip(" :=").lower().replace(" ", "_")
        reply.add(f'```json\n{{"{key}": "')
        reply.add(value, SECRET)
        reply.add('"}\n```\n')
        return
    lead = {
        "log": "2025-05-02T10:00:00Z WARN config loaded ",
        "bullets": "- ",
        "prose": "The key in the config is ",
    }.get(style, "")
    reply.add(lead + before)
    reply.add(value, SECRET)
    reply.add(after + ("." if style == "prose" and not after else "") + "\n")


def generate_heldout(
    seed: int = 1000,
    replies: int = 1600,
    clean_share: float = 0.25,
    locales: Sequence[Locale] = LOCALES,
    styles: Sequence[str] = STYLES,
) -> list[HeldoutCase]:
    """`replies` seeded replies; a `clean_share` of them hold only hard negatives."""
    rng = random.Random(seed)
    cases = []
    for _ in range(replies):
        locale = rng.choice(locales)
        style = rng.choice(styles)
        positive = rng.random() >= clean_share
        reply = ReplyBuilder()
        reply.add(_OPENERS[locale.code.split("-")[0]])
        columns, rows = _records(rng, locale, positive, style)
        if style in _TABLE_STYLES:
            _render_table(reply, rng, style, locale, columns, rows)
        elif style == "log":
            _render_log(reply, rng, rows)
        else:
            _render_row(reply, rng, style, locale, rows[0])
            reply.add("\n")
        if positive and rng.random() < 0.35:
            _secret_block(rng, reply, style)
        if positive and rng.random() < 0.15:
            _glued(rng, reply, locale)
        if rng.random() < 0.6:
            reply.add(f"Note: {values.hard_negative(rng)}.\n")
        cases.append(HeldoutCase(reply.case(), locale.code, style))
    return cases


@dataclass(frozen=True, slots=True)
class HeldoutReport:
    per_entity: dict[str, Score]
    micro: Score
    recall_by_style: dict[str, float]
    delimited_recall: float
    prose_recall: float
    clean_flagged: float  # share of replies without PII in which anything was reported


def measure(
    scan: Callable[[str], Sequence[Finding]], cases: Sequence[HeldoutCase], entity_types: Sequence[str]
) -> HeldoutReport:
    """Exact type-and-span scores, micro totals, recall per style and the share of clean replies flagged."""
    per_entity = evaluate(scan, [c.case for c in cases], entity_types)
    by_style = {
        style: micro(evaluate(scan, [c.case for c in cases if c.style == style], entity_types).values()).recall
        for style in dict.fromkeys(c.style for c in cases)
    }
    delimited = micro(evaluate(scan, [c.case for c in cases if c.style in DELIMITED], entity_types).values()).recall
    prose = by_style.get("prose", 1.0)
    clean = [c.case for c in cases if not c.case.labels]
    flagged = sum(1 for c in clean if scan(c.text))
    return HeldoutReport(
        per_entity, micro(per_entity.values()), by_style, delimited, prose, flagged / len(clean) if clean else 0.0
    )
