"""Ordinary traffic of a small company's workspace assistant, and the benign changes it goes through.

The agent has ten MCP-style tools: a calendar, a browser, a code repository, a sandboxed shell, payments, a CRM,
team chat, mail, flight search and hotel booking. Their argument shapes follow the tool schemas that public MCP
servers and the OpenAI/Anthropic tool-use examples publish (flat JSON objects, ISO dates, ISO 4217 currencies,
IATA airport codes, lists of attendee addresses).

A drift is a legitimate change that starts part-way through the stream and then recurs: a currency the company
starts charging in, a repository it starts working on, a partner domain, a new optional key, a documentation
site, a package manager it moves to, a new route, a new CRM field.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Args = dict[str, Any]
COMPANY = "acme.io"
PARTNERS = ("globex.com", "initech.com", "hooli.xyz", "vandelay-industries.com")
PEOPLE = ("alice", "bob", "carol", "dmitri", "erin", "farah", "gus", "hana", "ivan", "jules", "kofi", "lena")
REPOS = ("acme/api", "acme/web", "acme/infra", "acme/mobile")
KNOWN_HOSTS = (
    "docs.python.org",
    "github.com",
    "en.wikipedia.org",
    "developer.mozilla.org",
    "stackoverflow.com",
    "www.booking.com",
    "jira.acme.io",
    "wiki.acme.io",
    "pypi.org",
    "www.npmjs.com",
)
AIRPORTS = ("SFO", "JFK", "LHR", "FRA", "CDG", "AMS", "BER", "MUC", "SIN", "NRT", "BOS", "ORD")
CITIES = ("Berlin", "London", "Paris", "New York", "San Francisco", "Singapore", "Amsterdam", "Munich")
# Typical charge sizes in each currency's major unit (median of a log-normal).
CURRENCY_MEDIAN = {"USD": 90.0, "EUR": 80.0, "GBP": 70.0, "CHF": 85.0, "JPY": 13_000.0}


def _id(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def person(rng: random.Random, domain: str = COMPANY) -> str:
    return f"{rng.choice(PEOPLE)}@{domain}"


def _date(rng: random.Random) -> str:
    return f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"


class Traffic:
    """Draws ordinary calls. Pools (customers, contacts) are fixed per seed, as in a real tenant."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.customers = [f"cus_{_id(rng, 14)}" for _ in range(300)]
        self.contacts = [f"003{_id(rng, 15)}" for _ in range(400)]

    # Each tool: arguments of an ordinary call.
    def calendar(self) -> Args:
        rng = self.rng
        title = rng.choice(
            ["Sprint planning", f"1:1 {rng.choice(PEOPLE).title()}", f"Customer call: {rng.choice(PARTNERS)}",
             "Design review", f"Flight to {rng.choice(CITIES)}", "Quarterly business review", "Incident retro"]
        )  # fmt: skip
        attendees = [person(rng) for _ in range(rng.randrange(1, 5))]
        if rng.random() < 0.3:
            attendees.append(person(rng, rng.choice(PARTNERS)))
        args: Args = {
            "title": title,
            "start": f"{_date(rng)}T{rng.randrange(8, 18):02d}:{rng.choice(['00', '15', '30', '45'])}:00",
            "duration_min": rng.choice([15, 30, 30, 45, 60, 60, 90]),
            "attendees": attendees,
        }
        if rng.random() < 0.6:
            args["location"] = rng.choice(["Zoom", "Google Meet", "Room 4.12", "Room 2.03", "Berlin office"])
        return args

    def browser(self) -> Args:
        rng = self.rng
        host = rng.choice(KNOWN_HOSTS)
        path = {
            "docs.python.org": f"/3/library/{rng.choice(['asyncio', 'json', 'pathlib', 're', 'typing'])}.html",
            "github.com": f"/{rng.choice(REPOS)}/pull/{rng.randrange(100, 4000)}",
            "en.wikipedia.org": f"/wiki/{rng.choice(['OAuth', 'IATA_airport_code', 'ISO_4217', 'Webhook'])}",
            "developer.mozilla.org": f"/en-US/docs/Web/HTTP/Headers/{rng.choice(['Cache-Control', 'Vary'])}",
            "stackoverflow.com": f"/questions/{rng.randrange(10**6, 8 * 10**7)}",
            "www.booking.com": f"/hotel/{rng.choice(['de', 'gb', 'fr'])}/{_id(rng, 8, string.ascii_lowercase)}.html",
            "jira.acme.io": f"/browse/ACME-{rng.randrange(1, 9000)}",
            "wiki.acme.io": f"/display/ENG/{rng.choice(['Onboarding', 'Runbooks', 'Travel+policy'])}",
            "pypi.org": f"/project/{rng.choice(['requests', 'httpx', 'pydantic', 'ruff'])}/",
            "www.npmjs.com": f"/package/{rng.choice(['react', 'vite', 'zod', 'express'])}",
        }[host]
        query = f"?page={rng.randrange(1, 5)}" if rng.random() < 0.1 else ""
        return {"url": f"https://{host}{path}{query}"}

    def repo(self, repos: tuple[str, ...] = REPOS) -> Args:
        rng = self.rng
        path = rng.choice(
            [f"src/{rng.choice(['handlers', 'models', 'services', 'utils'])}/{_id(rng, 6, string.ascii_lowercase)}.py",
             f"tests/test_{_id(rng, 5, string.ascii_lowercase)}.py", "README.md", "pyproject.toml",
             f"docs/{rng.choice(['setup', 'api', 'deploy'])}.md", "package.json", ".github/workflows/ci.yml"]
        )  # fmt: skip
        ref = rng.choice(
            [
                "main",
                "main",
                "develop",
                f"feature/{_id(rng, 6, string.ascii_lowercase)}",
                _id(rng, 7, "0123456789abcdef"),
            ]
        )
        return {"repo": rng.choice(repos), "path": path, "ref": ref}

    def shell(self, tools: tuple[str, ...] = ("pip", "pytest", "git", "npm", "make")) -> Args:
        rng = self.rng
        commands = {
            "pip": f"pip install -r requirements{rng.choice(['', '-dev'])}.txt",
            "pytest": f"pytest -q tests/test_{_id(rng, 5, string.ascii_lowercase)}.py",
            "git": rng.choice(["git status", "git log --oneline -n 20", "git diff --stat", "git fetch origin"]),
            "npm": rng.choice(["npm test", "npm run build", "npm ci"]),
            "make": rng.choice(["make lint", "make test", "make docs"]),
            "uv": rng.choice(
                ["uv sync", f"uv run pytest -q tests/test_{_id(rng, 5, string.ascii_lowercase)}.py", "uv lock"]
            ),
        }
        return {
            "command": commands[rng.choice(tools)],
            "cwd": f"/workspace/{rng.choice(REPOS).split('/')[1]}",
            "timeout_s": rng.choice([60, 120, 300]),
        }

    def payment(self, currencies: tuple[str, ...] = ("USD", "EUR", "GBP", "CHF")) -> Args:
        rng = self.rng
        currency = rng.choices(currencies, weights=[5, 4, 2, 1, 3][: len(currencies)])[0]
        amount = round(CURRENCY_MEDIAN[currency] * rng.lognormvariate(0, 0.6), 0 if currency == "JPY" else 2)
        return {
            "amount": amount,
            "currency": currency,
            "customer_id": rng.choice(self.customers),
            "description": rng.choice(
                [
                    f"Invoice INV-2025-{rng.randrange(1, 9999):04d}",
                    "Pro plan, monthly",
                    "Team plan, annual",
                    "Extra seats",
                ]
            ),
        }

    def crm(self, fields: tuple[str, ...] = ("title", "stage", "owner", "next_step")) -> Args:
        rng = self.rng
        field = rng.choice(fields)
        value = {
            "title": rng.choice(["CTO", "VP Engineering", "Procurement lead", "Head of Data"]),
            "stage": rng.choice(["lead", "qualified", "proposal", "negotiation", "won", "lost"]),
            "owner": person(rng),
            "next_step": rng.choice(["Send proposal", "Book demo", "Follow up next week", "Intro to CTO"]),
            "lifecycle_stage": rng.choice(["subscriber", "marketing_qualified", "sales_qualified", "customer"]),
        }[field]
        args: Args = {"contact_id": rng.choice(self.contacts), "field": field, "value": value}
        if rng.random() < 0.3:
            args["note"] = rng.choice(["Per call today.", "Updated after the demo.", "From the intro e-mail."])
        return args

    def chat(self) -> Args:
        rng = self.rng
        return {
            "channel": rng.choice(["#eng", "#deploys", "#sales", "#travel", "#random", f"@{rng.choice(PEOPLE)}"]),
            "text": rng.choice(
                [
                    f"Deployed api v1.{rng.randrange(10, 60)}.{rng.randrange(0, 9)} to staging.",
                    f"PR #{rng.randrange(100, 4000)} is ready for review.",
                    f"Flight booked: {rng.choice(AIRPORTS)} to {rng.choice(AIRPORTS)} on {_date(rng)}.",
                    f"Reminder: {rng.choice(['standup', 'retro', 'demo'])} in 10 minutes.",
                    f"Closed ACME-{rng.randrange(1, 9000)}, tests green.",
                ]
            ),
        }

    def mail(self, partner_domains: tuple[str, ...] = PARTNERS) -> Args:
        rng = self.rng
        to = person(rng) if rng.random() < 0.6 else person(rng, rng.choice(partner_domains))
        return {
            "to": to,
            "subject": rng.choice(["Meeting notes", "Proposal", "Your invoice", "Travel itinerary", "Quick question"]),
            "body": rng.choice(
                [
                    "Hi, please find the notes from today's call below. Best, Alice",
                    "Attached is the updated proposal; let me know if anything is missing.",
                    "Your itinerary is confirmed. Safe travels!",
                    "Could you share the latest figures by Friday?",
                ]
            ),
        }

    def flights(self, airports: tuple[str, ...] = AIRPORTS) -> Args:
        rng = self.rng
        origin, destination = rng.sample(airports, 2)
        return {
            "origin": origin,
            "destination": destination,
            "depart_date": _date(rng),
            "passengers": rng.choice([1, 1, 1, 2, 3]),
            "cabin": rng.choice(["economy", "economy", "premium_economy", "business"]),
        }

    def hotel(self) -> Args:
        rng = self.rng
        currency = rng.choice(["EUR", "USD", "GBP"])
        return {
            "city": rng.choice(CITIES),
            "check_in": _date(rng),
            "nights": rng.randrange(1, 8),
            "guests": rng.choice([1, 1, 2, 3]),
            "max_price": float(rng.randrange(120, 420, 10)),
            "currency": currency,
        }


TOOLS: dict[str, tuple[str, float]] = {
    # Tool name as the agent calls it: (Traffic method, weight in ordinary traffic).
    "calendar.create_event": ("calendar", 10),
    "browser.open": ("browser", 18),
    "repo.read_file": ("repo", 14),
    "shell.exec": ("shell", 14),
    "payments.create_charge": ("payment", 6),
    "crm.update_contact": ("crm", 8),
    "chat.post_message": ("chat", 12),
    "mail.send": ("mail", 10),
    "flights.search": ("flights", 4),
    "hotels.book": ("hotel", 4),
}


def ordinary(traffic: Traffic) -> tuple[str, Args]:
    names = list(TOOLS)
    tool = traffic.rng.choices(names, weights=[TOOLS[n][1] for n in names])[0]
    return tool, getattr(traffic, TOOLS[tool][0])()


@dataclass(frozen=True)
class Drift:
    kind: str
    tool: str
    start: float  # share of the stream after which it begins
    share: float  # share of that tool's calls that take the new form once it has begun
    make: Callable[[Traffic], Args]


def _thread_reply(t: Traffic) -> Args:
    args = t.chat()
    args["thread_ts"] = f"{t.rng.randrange(1_700_000_000, 1_760_000_000)}.{t.rng.randrange(10**5, 10**6)}"
    return args


def _docs_site(t: Traffic) -> Args:
    page = t.rng.choice(["quickstart", "api/events", "api/webhooks", "guides/auth", "changelog"])
    return {"url": f"https://docs.getrelay.dev/{page}"}


def _partner(t: Traffic) -> Args:
    args = t.calendar()
    args["attendees"] = [*args["attendees"], person(t.rng, "umbrella-partners.com")]
    return args


DRIFTS: tuple[Drift, ...] = (
    Drift("new_currency_jpy", "payments.create_charge", 0.35, 0.3, lambda t: t.payment(("JPY",))),
    Drift("new_repository", "repo.read_file", 0.40, 0.25, lambda t: t.repo(("acme/billing-service",))),
    Drift("new_partner_domain", "calendar.create_event", 0.45, 0.3, _partner),
    Drift("new_partner_mail", "mail.send", 0.45, 0.25, lambda t: t.mail(("umbrella-partners.com",))),
    Drift("new_optional_key", "chat.post_message", 0.30, 0.3, _thread_reply),
    Drift("new_docs_site", "browser.open", 0.50, 0.15, _docs_site),
    Drift("new_package_manager", "shell.exec", 0.55, 0.35, lambda t: t.shell(("uv",))),
    Drift("new_route", "flights.search", 0.40, 0.4, lambda t: t.flights(("SFO", "HND", "ICN", "TPE"))),
    Drift("new_crm_field", "crm.update_contact", 0.60, 0.3, lambda t: t.crm(("lifecycle_stage",))),
)
