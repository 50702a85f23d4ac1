"""A seeded set of labelled assistant replies, and the measure of a scanner on it.

Each reply is written in one of the locales of `pii_locales` and one of ten layouts: CSV (comma or semicolon),
TSV, markdown table, JSON, key: value lines, bullets, log lines, a config/env file, an e-mail signature and
prose. About a third of the replies carry no PII at all but hard negatives from `pii_negatives`; the others mix
PII with them. A label is the entity type and the exact character span of the value.

    cases = generate(seed=1)
    report = measure(scan, cases)   # scan(text) -> findings with entity_type, start, end
    print(report.text())
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from otel_ai_incident.testing.independent import pii_values as v
from otel_ai_incident.testing.independent.pii_locales import LOCALES, Locale
from otel_ai_incident.testing.independent.pii_negatives import NEGATIVE_KINDS, negative

ENTITY_TYPES = ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS", "SECRET")
# Field key -> entity type.
PII_KEYS = {
    "email": "EMAIL",
    "phone": "PHONE",
    "mobile": "PHONE",
    "card": "CREDIT_CARD",
    "iban": "IBAN",
    "ssn": "US_SSN",
    "ip": "IP_ADDRESS",
    "token": "SECRET",
}
LAYOUT_GROUPS = {
    "csv": "delimited",
    "tsv": "delimited",
    "markdown": "delimited",
    "json": "delimited",
    "key_value": "structured",
    "bullets": "structured",
    "log": "structured",
    "env": "structured",
    "signature": "prose",
    "prose": "prose",
}
LAYOUTS = tuple(LAYOUT_GROUPS)
# The field name a JSON object, a log line or a config file gives each key.
FIELD_NAMES = {
    "name": "name",
    "email": "email",
    "phone": "phone",
    "mobile": "mobile",
    "card": "card_number",
    "iban": "iban",
    "ssn": "ssn",
    "ip": "client_ip",
    "token": "api_token",
    "version": "app_version",
    "section": "section",
    "order": "order_id",
    "tracking": "tracking_no",
    "uuid": "request_id",
    "digest": "checksum",
    "placeholder_key": "api_key",
    "fictional_phone": "phone",
    "bad_luhn": "card_number",
    "bad_iban": "iban",
    "bad_ssn": "ssn",
    "ein": "ein",
    "isbn": "isbn",
    "oid": "oid",
    "coordinates": "gps",
    "mac": "mac",
    "asset": "asset",
    "ip_lookalike": "build",
    "amount": "amount",
    "date": "date",
}


@dataclass(frozen=True)
class Label:
    entity_type: str
    start: int
    end: int
    value: str


@dataclass(frozen=True)
class Case:
    text: str
    labels: tuple[Label, ...]
    locale: str
    layout: str
    # Hard negatives in the reply: the negative's kind (pii_negatives) in place of an entity type.
    decoys: tuple[Label, ...] = ()

    @property
    def group(self) -> str:
        return LAYOUT_GROUPS[self.layout]


@dataclass(frozen=True)
class Cell:
    """One field of a record: its label, its key (a PII key, a negative kind or "name"), the text, the type."""

    key: str
    label: str
    text: str
    entity_type: str | None


class _Writer:
    """Appends text and keeps the span of every labelled value exact."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.labels: list[Label] = []
        self.decoys: list[Label] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)

    def cell(self, cell: Cell, quote: str = "") -> None:
        self.add(quote)
        if cell.entity_type:
            self.labels.append(Label(cell.entity_type, self.size, self.size + len(cell.text), cell.text))
        elif cell.key != "name":
            self.decoys.append(Label(cell.key, self.size, self.size + len(cell.text), cell.text))
        self.add(cell.text)
        self.add(quote)

    def template(self, pattern: str, cell: Cell, name: str) -> None:
        """A sentence pattern with {label}, {name} and {value}; the value's span is where {value} lands."""
        head, _, tail = pattern.partition("{value}")
        self.add(head.format(label=cell.label, name=name))
        self.cell(cell)
        self.add(tail.format(label=cell.label, name=name))

    def case(self, locale: Locale, layout: str) -> Case:
        return Case("".join(self.parts), tuple(self.labels), locale.code, layout, tuple(self.decoys))


class _Fields:
    """Draws the cells of a record in a locale."""

    def __init__(self, rng: random.Random, locale: Locale) -> None:
        self.rng, self.locale = rng, locale
        self.token_label = "API token"

    def person(self) -> tuple[str, str, str]:
        """(display name, first, last): first and last for the e-mail address."""
        loc, i, j = self.locale, self.rng.randrange(len(self.locale.first)), self.rng.randrange(len(self.locale.last))
        display = f"{loc.last[j]}{loc.first[i]}" if loc.code == "ja-JP" else f"{loc.first[i]} {loc.last[j]}"
        if loc.first_latin and self.rng.random() < 0.85:
            return display, loc.first_latin[i], loc.last_latin[j]
        return display, loc.first[i], loc.last[j]

    def pii(self, key: str, first: str, last: str) -> Cell:
        rng, loc = self.rng, self.locale
        label = loc.labels[key if key != "token" else "token"]
        if key == "email":
            text = v.email(rng, first, last, list(loc.domains), unicode_ok=rng.random() < 0.25)
        elif key in {"phone", "mobile"}:
            text = v.phone(rng, loc.region, "mobile" if key == "mobile" else rng.choice(["fixed", "mobile"]))
        elif key == "card":
            text = v.card(rng)
        elif key == "iban":
            text = v.iban(rng, loc.iban_country or rng.choice(sorted(v.IBAN_REGISTRY)))
        elif key == "ssn":
            text = v.ssn(rng)
        elif key == "ip":
            text = v.ip_address(rng)
        else:
            _, label, text = v.secret(rng)
        return Cell(key, label, text, PII_KEYS[key])

    def negative(self, kind: str | None = None) -> Cell:
        neg = negative(self.rng, self.locale, kind)
        return Cell(neg.kind, neg.label, neg.text, None)


# ---------------------------------------------------------------- layouts

Record = list[Cell]


def _headers(records: Sequence[Record], locale: Locale) -> list[str]:
    """Column titles: a table holds tokens of many vendors, so its column has the locale's generic label."""
    return [locale.labels["token"] if c.key == "token" else c.label for c in records[0]]


def _table(w: _Writer, records: Sequence[Record], sep: str, locale: Locale, rng: random.Random) -> None:
    w.add(sep.join(_headers(records, locale)) + "\n")
    for record in records:
        for i, c in enumerate(record):
            if i:
                w.add(sep)
            quoted = sep != "\t" and (sep in c.text or rng.random() < 0.15)
            w.cell(c, '"' if quoted else "")
        w.add("\n")


def _markdown(w: _Writer, records: Sequence[Record], locale: Locale, rng: random.Random) -> None:
    w.add("| " + " | ".join(_headers(records, locale)) + " |\n")
    w.add("|" + "|".join("---" for _ in records[0]) + "|\n")
    for record in records:
        w.add("|")
        for c in record:
            w.add(" ")
            w.cell(c, "`" if c.entity_type == "SECRET" and rng.random() < 0.5 else "")
            w.add(" |")
        w.add("\n")


def _json(w: _Writer, records: Sequence[Record], rng: random.Random) -> None:
    pretty = rng.random() < 0.6
    w.add("```json\n[" + ("\n" if pretty else ""))
    for n, record in enumerate(records):
        w.add("  {" if pretty else "{")
        for i, c in enumerate(record):
            w.add(", " if i else "")
            w.add(json.dumps(FIELD_NAMES[c.key]) + ": ")
            w.cell(Cell(c.key, c.label, json.dumps(c.text, ensure_ascii=False)[1:-1], c.entity_type), '"')
        w.add("}" + ("," if n < len(records) - 1 else "") + ("\n" if pretty else ""))
    w.add("]\n```")


def _key_value(w: _Writer, records: Sequence[Record], rng: random.Random, english: bool) -> None:
    for n, record in enumerate(records):
        w.add("\n" if n else "")
        for c in record:
            sep = rng.choice([": ", ": ", ":", " - ", " = ", ":\t"])
            label = c.label
            if english and c.key == "card" and rng.random() < 0.3:
                label, sep = rng.choice(["Card no.", "Card #", "CC#"]), ""
            elif english and c.key == "phone" and rng.random() < 0.3:
                label, sep = rng.choice(["Tel.", "Ph.", "Tel:"]), ""
            w.add(label + sep)
            w.cell(c)
            w.add("\n")


def _bullets(w: _Writer, records: Sequence[Record], rng: random.Random) -> None:
    for record in records:
        bold = rng.random() < 0.5
        for i, c in enumerate(record):
            indent = "  " if i else ""
            w.add(f"{indent}- **{c.label}:** " if bold else f"{indent}* {c.label}: ")
            w.cell(c, "`" if c.entity_type == "SECRET" and rng.random() < 0.4 else "")
            w.add("\n")


def _log(w: _Writer, records: Sequence[Record], rng: random.Random) -> None:
    service = rng.choice(["billing", "auth", "crm-sync", "checkout", "gateway"])
    for record in records:
        w.add(f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T{rng.randrange(0, 24):02d}:")
        w.add(f"{rng.randrange(0, 60):02d}:{rng.randrange(0, 60):02d}Z {rng.choice(['INFO', 'WARN', 'DEBUG'])} ")
        w.add(f"{service}: event={rng.choice(['update', 'login', 'charge', 'export'])}")
        for c in record:
            w.add(f" {FIELD_NAMES[c.key]}=")
            w.cell(c, '"' if " " in c.text or rng.random() < 0.2 else "")
            if c.key == "ip" and ":" not in c.text and rng.random() < 0.3:
                w.add(f":{rng.choice([443, 8080, 51234, 22])}")
        w.add("\n")


def _env(w: _Writer, records: Sequence[Record], rng: random.Random) -> None:
    style = rng.choice(["dotenv", "yaml", "toml"])
    for record in records:
        for c in record:
            key = c.label if c.key == "token" else FIELD_NAMES[c.key].upper()
            if c.key == "token" and c.label == "AccountKey":
                head = {"dotenv": "AZURE_STORAGE_CONNECTION_STRING=", "yaml": "azure_storage_connection_string: "}
                quote = "" if style == "dotenv" else '"'
                w.add(head.get(style, "azure_storage_connection_string = ") + quote)
                w.add(f"DefaultEndpointsProtocol=https;AccountName=st{rng.randrange(10**5)};AccountKey=")
                w.cell(c)
                w.add(f";EndpointSuffix=core.windows.net{quote}\n")
                continue
            if style == "dotenv":
                w.add(f"{key}=")
                w.cell(c, '"' if rng.random() < 0.3 else "")
            elif style == "yaml":
                w.add(f"{key.lower()}: ")
                w.cell(c, '"' if rng.random() < 0.5 else "")
            else:
                w.add(f"{key.lower()} = ")
                w.cell(c, '"')
            w.add("\n")


def _signature(w: _Writer, record: Record, name: str, locale: Locale, rng: random.Random) -> None:
    w.add(f"--\n{name}\n" if name != locale.company else "--\n")
    w.add(f"{locale.company}\n")
    for c in record:
        if c.key == "name":
            continue
        if rng.random() < 0.3:
            w.cell(c)
        else:
            w.add(f"{c.label}{rng.choice([': ', ' ', ' | '])}")
            w.cell(c)
        w.add(rng.choice(["\n", "\n", " | "]) if c is not record[-1] else "\n")


def _prose(w: _Writer, records: Sequence[Record], names: Sequence[str], locale: Locale, rng: random.Random) -> None:
    for record, name in zip(records, names, strict=True):
        for c in record:
            if c.key == "name":
                continue
            w.template(rng.choice(locale.prose), c, name)
            w.add(rng.choice([" ", " ", "\n"]))
        w.add("\n")


# ---------------------------------------------------------------- cases

_PII_WEIGHTS = {"email": 22, "phone": 20, "mobile": 8, "card": 14, "iban": 12, "ssn": 8, "ip": 14, "token": 16}


def _pii_keys(rng: random.Random, locale: Locale, layout: str) -> list[str]:
    keys = [k for k in _PII_WEIGHTS if k != "ssn" or locale.code == "en-US"]
    weights = [_PII_WEIGHTS[k] * (4 if k == "ssn" else 1) for k in keys]
    if layout == "env":
        return ["token", *rng.sample(["token", "ip", "email"], rng.randrange(1, 3))]
    if layout == "signature":
        return rng.sample(["phone", "mobile", "email", "iban"], rng.randrange(2, 4))
    picked: list[str] = []
    while len(picked) < rng.randrange(1, 5):
        key = rng.choices(keys, weights=weights)[0]
        if key not in picked:
            picked.append(key)
    return picked


def _one(rng: random.Random, pii_free: bool) -> Case:
    locale = rng.choices(LOCALES, weights=[2 if loc.code == "en-US" else 1 for loc in LOCALES])[0]
    layout = rng.choice(LAYOUTS)
    fields = _Fields(rng, locale)
    w = _Writer()
    w.add(rng.choice(locale.intro) + "\n\n")
    n_records = 1 if layout == "signature" else rng.randrange(1, 5)
    if pii_free:
        kinds = rng.sample(NEGATIVE_KINDS, rng.randrange(2, 5))
        keys: list[str] = []
    else:
        kinds = rng.sample(["order", "amount", "date", "version", "uuid", "tracking"], rng.randrange(0, 2))
        keys = _pii_keys(rng, locale, layout)
    names, records = [], []
    for _ in range(n_records):
        display, first, last = fields.person()
        names.append(display if not pii_free else locale.company)
        record: Record = (
            [] if pii_free or layout in {"env", "prose"} else [Cell("name", locale.labels["name"], display, None)]
        )
        record += [fields.pii(k, first, last) for k in keys]
        record += [fields.negative(kind) for kind in kinds]
        records.append(record)
    if layout in {"csv", "tsv"}:
        sep = (
            "\t"
            if layout == "tsv"
            else (";" if locale.code[:2] in {"de", "fr", "it", "es", "nl", "pl", "pt"} and rng.random() < 0.5 else ",")
        )
        _table(w, records, sep, locale, rng)
    elif layout == "markdown":
        _markdown(w, records, locale, rng)
    elif layout == "json":
        _json(w, records, rng)
    elif layout == "key_value":
        _key_value(w, records, rng, english=locale.code.startswith("en"))
    elif layout == "bullets":
        _bullets(w, records, rng)
    elif layout == "log":
        _log(w, records, rng)
    elif layout == "env":
        _env(w, records, rng)
    elif layout == "signature":
        _signature(w, records[0], names[0], locale, rng)
    else:
        _prose(w, records, names, locale, rng)
    return w.case(locale, layout)


def generate(seed: int, n: int = 1600, pii_free_share: float = 0.3) -> list[Case]:
    """`n` replies; the same seed gives the same replies."""
    rng = random.Random(seed)
    return [_one(rng, rng.random() < pii_free_share) for _ in range(n)]


# ---------------------------------------------------------------- measure


class Finding(Protocol):
    entity_type: str
    start: int
    end: int


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class PiiReport:
    per_type: dict[str, Counts] = field(default_factory=lambda: {t: Counts() for t in ENTITY_TYPES})
    per_layout: dict[str, Counts] = field(default_factory=lambda: {lay: Counts() for lay in LAYOUTS})
    per_group: dict[str, Counts] = field(default_factory=dict)
    decoys: dict[str, list[int]] = field(default_factory=dict)  # negative kind: [flagged, seen]
    replies: int = 0
    pii_free: int = 0
    pii_free_flagged: int = 0
    seconds: float = 0.0
    seconds_pii_free: float = 0.0

    @property
    def micro(self) -> Counts:
        return self.micro_of(self.per_type)

    def micro_of(self, types: Iterable[str]) -> Counts:
        """Pooled counts over `types` (e.g. only those another scanner supports)."""
        chosen = [self.per_type[t] for t in types]
        return Counts(*(sum(getattr(c, f) for c in chosen) for f in ("tp", "fp", "fn")))

    @property
    def pii_free_flagged_share(self) -> float:
        return self.pii_free_flagged / self.pii_free if self.pii_free else 0.0

    @property
    def us_per_reply(self) -> float:
        return self.seconds / self.replies * 1e6 if self.replies else 0.0

    @property
    def us_per_pii_free_reply(self) -> float:
        return self.seconds_pii_free / self.pii_free * 1e6 if self.pii_free else 0.0

    def text(self, types: Iterable[str] = ENTITY_TYPES) -> str:
        lines = [f"{'type':<12} {'precision':>9} {'recall':>7} {'tp':>5} {'fp':>5} {'fn':>5}"]
        for t in types:
            c = self.per_type[t]
            lines.append(f"{t:<12} {c.precision:9.3f} {c.recall:7.3f} {c.tp:5d} {c.fp:5d} {c.fn:5d}")
        types = list(types)
        m = self.micro_of(types)
        lines.append(f"{'micro':<12} {m.precision:9.3f} {m.recall:7.3f} {m.tp:5d} {m.fp:5d} {m.fn:5d}")
        groups = ", ".join(f"{g} {c.recall:.3f}" for g, c in sorted(self.per_group.items()))
        layouts = ", ".join(f"{lay} {c.recall:.3f}" for lay, c in self.per_layout.items())
        lines.append(f"recall by group: {groups}")
        lines.append(f"recall by layout: {layouts}")
        lines.append(
            "hard negatives flagged (any overlapping finding): "
            + ", ".join(f"{kind} {n}/{seen}" for kind, (n, seen) in sorted(self.decoys.items()) if n)
        )
        lines.append(
            f"PII-free replies flagged: {self.pii_free_flagged}/{self.pii_free} ({self.pii_free_flagged_share:.1%}); "
            f"{self.us_per_reply:.1f} us per reply, {self.us_per_pii_free_reply:.1f} us per PII-free reply"
        )
        return "\n".join(lines)


def measure(scan: Callable[[str], Sequence[Finding]], cases: Sequence[Case]) -> PiiReport:
    """Scan every reply; a finding counts only with the labelled type and exact span."""
    report = PiiReport(replies=len(cases))
    for case in cases:
        began = time.perf_counter()
        findings = scan(case.text)
        spent = time.perf_counter() - began
        report.seconds += spent
        found = {(f.entity_type, f.start, f.end) for f in findings}
        truth = {(lab.entity_type, lab.start, lab.end) for lab in case.labels}
        group = report.per_group.setdefault(case.group, Counts())
        for kind, start, end in found | truth:
            key = (kind, start, end)
            counts = report.per_type.setdefault(kind, Counts())
            if key in found and key in truth:
                counts.tp += 1
                report.per_layout[case.layout].tp += 1
                group.tp += 1
            elif key in found:
                counts.fp += 1
                report.per_layout[case.layout].fp += 1
                group.fp += 1
            else:
                counts.fn += 1
                report.per_layout[case.layout].fn += 1
                group.fn += 1
        if not case.labels:
            report.seconds_pii_free += spent
            report.pii_free += 1
            report.pii_free_flagged += bool(found)
        for decoy in case.decoys:
            tally = report.decoys.setdefault(decoy.entity_type, [0, 0])
            tally[0] += any(start < decoy.end and decoy.start < end for _, start, end in found)
            tally[1] += 1
    return report
