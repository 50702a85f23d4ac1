"""The PII scanner and the tool-argument scorer on evaluation sets written without reading either detector.

The sets (otel_ai_incident/testing/independent) come from public format references only: the phone library's
numbering-plan metadata, the SWIFT IBAN registry, issuers' IIN ranges and the Luhn check, the SSA's SSN rules,
vendors' published token formats, RFC 5321/6531 e-mail and RFC 5952 IPv6; and, for tool calls, a workspace
assistant's own MCP-style tools with benign drift and attack families from the OWASP LLM and SSRF literature.
Each runs on two seeds.

With Presidio installed, the same replies also go through Presidio's predefined pattern recognizers (e-mail,
phone, card, IBAN, US SSN, IP; no spaCy model, no context words), for precision, recall and speed in the same run.
The speed ratio is taken block by block: each block of 50 replies is scanned by one, then the other, three times
each, by process CPU time, keeping each side's fastest pass. Load that comes and goes on a shared machine then
falls on both sides alike instead of on whichever ran during it. Presidio is a comparison only, not a
dependency of the project:

    pip install presidio-analyzer      # optional
    python benchmarks/independent.py [--seeds 1 2] [--replies 1600] [--calls 6000] [--pii-only]
"""

from __future__ import annotations

import argparse
import time
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
            f"Presidio P {other.precision:.3f} R {other.recall:.3f}"
        )
        ours_us, theirs_us = _interleaved_cpu_us([case.text for case in cases], scan, presidio)
        print(
            f"speed, CPU per reply, interleaved blocks: ours {ours_us:.1f} us, Presidio {theirs_us:.1f} us, "
            f"ratio {theirs_us / ours_us:.1f}x"
        )


def _interleaved_cpu_us(
    texts: Sequence[str], first: Callable[[str], object], second: Callable[[str], object], block: int = 50
) -> tuple[float, float]:
    """CPU µs per text of two scanners, each block of texts timed on both in turn (fastest of three passes)."""
    totals = [0.0, 0.0]
    for start in range(0, len(texts), block):
        chunk = texts[start : start + block]
        for side, scanner in enumerate((first, second)):
            best = float("inf")
            for _ in range(3):
                began = time.process_time()
                for text in chunk:
                    scanner(text)
                best = min(best, time.process_time() - began)
            totals[side] += best
    return totals[0] / len(texts) * 1e6, totals[1] / len(texts) * 1e6


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
    parser.add_argument("--pii-only", action="store_true", help="leave out the tool-call stream")
    args = parser.parse_args()
    _pii(args.seeds, args.replies)
    if not args.pii_only:
        _toolcalls(args.seeds, args.calls)


if __name__ == "__main__":
    main()
