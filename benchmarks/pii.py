"""Accuracy and speed of the PII detector (otel_ai_incident.guardrails.pii).

    python benchmarks/pii.py [--seed N] [--per-entity N] [--negatives N] [--heldout-seed N] [--heldout N]

Accuracy: precision, recall and F1 per entity type on the seeded labelled replies of
otel_ai_incident.testing.pii_cases, the set the detector is developed against, and side by side on the
held-out set of otel_ai_incident.testing.pii_heldout (other locales and layouts, values from public format
references), with micro totals, recall in delimited text against prose and the share of PII-free replies
flagged (a finding counts only with the exact type and span). Speed: median time
per call measured with perf_counter_ns, each printed with its ratio to a baseline measured in the same run
on the same text, so the figures mean the same on any machine: one `re.search(r"\\d", text)` for a reply,
`str.lower()` for long text.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable, Sequence

from otel_ai_incident.guardrails.pii import PiiDetector
from otel_ai_incident.testing.pii_cases import evaluate, generate_cases, micro
from otel_ai_incident.testing.pii_heldout import STYLES, UNSEEN_LOCALES, UNSEEN_STYLES, generate_heldout, measure

# Typical assistant replies without PII, 100-300 characters, some with digits, dates and versions.
CLEAN_REPLIES = (
    "Sure! To reset your password, open Settings, choose Security and click 'Reset password'. You'll get a "
    "confirmation email within a few minutes.",
    "The main difference is that a list is mutable while a tuple is not. Use a tuple for fixed records and a "
    "list when you need to append or remove items.",
    "I'm sorry, but I can't help with that request. If you have questions about our products or your "
    "subscription, I'd be glad to assist.",
    "Your order has shipped and should arrive in 3-5 business days. You can track it from the Orders page "
    "in your account at any time.",
    "Python 3.12 added better error messages and a faster interpreter. Upgrading from 3.10 is usually "
    "smooth; run your tests first and check deprecation warnings.",
    "Here are 3 options: (1) the Basic plan at $9.99/month, (2) Pro at $29 and (3) Enterprise, which is "
    "priced per seat. Most teams of 5-20 people pick Pro.",
    "The meeting was moved to 2024-03-15 at 14:30 in room 204. Please bring the Q1 report and the updated "
    "roadmap slides.",
    "To fix the error, make sure the API key is set as an environment variable rather than hard-coded, then "
    "restart the service so it reloads the configuration.",
)


def median_ns(function: Callable[[], object], repeat: int) -> float:
    """Median wall time of one call, in nanoseconds."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter_ns()
        function()
        samples.append(time.perf_counter_ns() - started)
    return statistics.median(samples)


def per_text(function: Callable[[str], object], texts: Sequence[str], repeat: int) -> float:
    """Median over texts of each text's median time per call, in nanoseconds."""
    return statistics.median(median_ns(lambda text=text: function(text), repeat) for text in texts)


def report_accuracy(detector: PiiDetector, args: argparse.Namespace) -> None:
    cases = generate_cases(args.seed, args.per_entity, args.negatives)
    iteration = evaluate(detector.scan, cases, detector.entity_types)
    clean = [case for case in cases if not case.labels]
    heldout_cases = generate_heldout(args.heldout_seed, args.heldout)
    unseen_cases = generate_heldout(
        args.heldout_seed + 1, args.heldout, locales=UNSEEN_LOCALES, styles=STYLES + UNSEEN_STYLES
    )
    heldout = measure(detector.scan, heldout_cases, detector.entity_types)
    unseen = measure(detector.scan, unseen_cases, detector.entity_types)
    print(
        f"accuracy, exact type and span, precision / recall: iteration set = {len(cases)} replies of pii_cases "
        f"(seed {args.seed}); held-out = {len(heldout_cases)} replies of pii_heldout (seed {args.heldout_seed}); "
        f"unseen = {len(unseen_cases)} replies of pii_heldout in its unseen locales, all layouts"
    )
    print(f"  {'entity':<12} {'iteration set':>15} {'held-out':>15} {'unseen':>15}")
    rows = [
        (entity, score, heldout.per_entity[entity], unseen.per_entity[entity]) for entity, score in iteration.items()
    ]
    rows.append(("micro", micro(iteration.values()), heldout.micro, unseen.micro))
    for entity, *scores in rows:
        cells = "".join(
            f"{score.precision:>8.4f} {score.recall:.4f}"
            if score.true_positives + score.false_negatives
            else f"{'-':>15}"
            for score in scores
        )
        print(f"  {entity:<12}{cells}")
    clean_flagged = sum(1 for case in clean if detector.scan(case.text)) / len(clean) if clean else 0.0
    print(f"  PII-free replies flagged: {clean_flagged:.4f} | {heldout.clean_flagged:.4f} | {unseen.clean_flagged:.4f}")
    for name, report in (("held-out", heldout), ("unseen", unseen)):
        styles = ", ".join(f"{style} {recall:.4f}" for style, recall in report.recall_by_style.items())
        print(
            f"  {name} recall in delimited text {report.delimited_recall:.4f}, in prose {report.prose_recall:.4f}; "
            f"by style: {styles}"
        )


def report_speed(detector: PiiDetector, seed: int) -> None:
    digit = re.compile(r"\d")
    pii_replies = [case.text for case in generate_cases(seed + 1, 20, 0)][:120]
    for label, texts in (("reply without PII", CLEAN_REPLIES), ("reply with PII", pii_replies)):
        scan_ns = per_text(detector.scan, texts, 2000 if label.endswith("without PII") else 300)
        base_ns = per_text(digit.search, texts, 2000)
        mean_chars = statistics.mean(len(text) for text in texts)
        print(
            f"{label:<18} ({len(texts)} texts, mean {mean_chars:.0f} chars): {scan_ns / 1000:7.2f} us per scan, "
            f"{scan_ns / base_ns:6.1f}x one re.search(r'\\d') ({base_ns / 1000:.2f} us)"
        )
    prose = "\n\n".join(CLEAN_REPLIES)
    with_pii = "\n\n".join(pii_replies)
    for label, unit in (("long prose, no PII", prose), ("long text, 1 in 9 replies has PII", prose * 8 + with_pii)):
        text = (unit * (1_000_000 // len(unit) + 1))[:1_000_000]
        scan_ns = median_ns(lambda text=text: detector.scan(text), 5)
        base_ns = median_ns(text.lower, 5)
        print(
            f"{label:<34} (1 MB): {1e9 / scan_ns:6.1f} MB/s, "
            f"{scan_ns / base_ns:6.1f}x str.lower() ({1e9 / base_ns:.0f} MB/s)"
        )
    pathological = {
        "digits x 200k": "7" * 200_000,
        "'a@' x 50k": "a@" * 50_000,
        "'1-' x 100k": "1-" * 100_000,
        "whitespace x 1M": " " * 1_000_000,
        "'1 ' x 100k": "1 " * 100_000,
        "'AKIA' x 50k": "AKIA" * 50_000,
        "'::' x 100k": "::" * 100_000,
    }
    worst = max((median_ns(lambda text=text: detector.scan(text), 3), name) for name, text in pathological.items())
    print(f"slowest pathological input: {worst[1]} at {worst[0] / 1e6:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-entity", type=int, default=300)
    parser.add_argument("--negatives", type=int, default=600)
    parser.add_argument("--heldout-seed", type=int, default=1000)
    parser.add_argument("--heldout", type=int, default=1600, help="replies in the held-out set")
    args = parser.parse_args()
    detector = PiiDetector()
    report_accuracy(detector, args)
    report_speed(detector, args.seed)


if __name__ == "__main__":
    main()
