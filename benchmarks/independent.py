"""The PII scanner and the tool-argument scorer on evaluation sets written without reading either detector.

The sets (otel_ai_incident/testing/independent) come from public format references only: the phone library's
numbering-plan metadata, the SWIFT IBAN registry, issuers' IIN ranges and the Luhn check, the SSA's SSN rules,
vendors' published token formats, RFC 5321/6531 e-mail and RFC 5952 IPv6; and, for tool calls, a workspace
assistant's own MCP-style tools with benign drift and attack families from the OWASP LLM and SSRF literature.
Each runs on two seeds.

With Presidio installed, the same replies also go through Presidio's predefined pattern recognizers (e-mail,
phone, card, IBAN, US SSN, IP; no spaCy model, no context words), for precision, recall and speed in the same run.
Presidio is a comparison only, not a dependency of the project:

    pip install presidio-analyzer      # optional
    python benchmarks/independent.py [--seeds 1 2] [--replies 1600] [--calls 6000]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from otel_ai_incident.guardrails.anomaly import ToolArgumentScorer
from otel_ai_incident.guardrails.pii import scan
from otel_ai_incident.testing.independent import pii, toolcalls
from otel_ai_incident.testing.independent.pii_locales import LOCALES

# Presidio's entity names for the types both scanners cover.
PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
}
SHARED_TYPES = tuple(PRESIDIO_TYPES.values())


@dataclass(frozen=True)
class _Found:
    entity_type: str
    start: int
    end: int


def presidio_scanner() -> Callable[[str], list[_Found]] | None:
    """Presidio's pattern recognizers as a scan function, or None when Presidio is not installed.

    The recognizers run as its AnalyzerEngine runs them, without the NLP engine: every result at any score
    (the engine's default threshold is 0), overlapping duplicates removed the engine's way. The phone
    recognizer gets every region of the set, so it is not penalised for its default region list."""
    try:
        import tldextract
        from presidio_analyzer import EntityRecognizer
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            EmailRecognizer,
            IbanRecognizer,
            IpRecognizer,
            PhoneRecognizer,
            UsSsnRecognizer,
        )
    except ImportError:
        return None
    # The e-mail recognizer checks domains against the public suffix list: use the copy tldextract ships
    # rather than downloading it.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())
    regions = tuple(sorted({loc.region for loc in LOCALES}))
    recognizers = [
        EmailRecognizer(),
        PhoneRecognizer(supported_regions=regions),
        CreditCardRecognizer(),
        IbanRecognizer(),
        UsSsnRecognizer(),
        IpRecognizer(),
    ]

    def presidio_scan(text: str) -> list[_Found]:
        results = []
        for recognizer in recognizers:
            results += recognizer.analyze(text, recognizer.supported_entities, None)
        return [
            _Found(PRESIDIO_TYPES[r.entity_type], r.start, r.end)
            for r in EntityRecognizer.remove_duplicates(results)
            if r.entity_type in PRESIDIO_TYPES
        ]

    return presidio_scan


def _pii(seeds: Sequence[int], replies: int) -> None:
    presidio = presidio_scanner()
    for seed in seeds:
        cases = pii.generate(seed, n=replies)
        ours = pii.measure(scan, cases)
        print(f"\n== PII, seed {seed}: {len(cases)} replies, {ours.pii_free} PII-free ==")
        print(ours.text())
        if presidio is None:
            print("Presidio: not installed (pip install presidio-analyzer)")
            continue
        theirs = pii.measure(presidio, cases)
        print(f"-- Presidio pattern recognizers, seed {seed} --")
        print(theirs.text(SHARED_TYPES))
        mine, other = ours.micro_of(SHARED_TYPES), theirs.micro_of(SHARED_TYPES)
        print(
            f"on the six shared types: ours P {mine.precision:.3f} R {mine.recall:.3f}, "
            f"Presidio P {other.precision:.3f} R {other.recall:.3f}; "
            f"speed: ours {ours.us_per_reply:.1f} us/reply, Presidio {theirs.us_per_reply:.1f} us/reply, "
            f"ratio {theirs.us_per_reply / ours.us_per_reply:.1f}x"
        )


def _toolcalls(seeds: Sequence[int], calls: int) -> None:
    for seed in seeds:
        clean, stream = toolcalls.generate(seed, calls=calls)
        report = toolcalls.measure(ToolArgumentScorer().observe, stream, clean)
        print(f"\n== Tool calls, seed {seed}: {len(clean)} clean calls, then {len(stream)} ==")
        print(report.text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--replies", type=int, default=1600)
    parser.add_argument("--calls", type=int, default=6000)
    args = parser.parse_args()
    _pii(args.seeds, args.replies)
    _toolcalls(args.seeds, args.calls)


if __name__ == "__main__":
    main()
