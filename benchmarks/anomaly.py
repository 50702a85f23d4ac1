"""Tool-argument anomaly scorer: detection quality on simulated agent traffic, and cost per scored call.

Run: /work/venv/bin/python benchmarks/anomaly.py [--seed 0] [--calls 6000] [--repeat 5]

Reported, on the labelled traffic of otel_ai_incident.testing.anomaly_sim (ordinary calls first, then
misuse at 5 %), scoring every call with observe() as the hooks do:
  1. ROC AUC of misuse against ordinary calls after the clean period, by the Mann-Whitney U statistic
     (GOAL >= 0.98), and the share of each misuse class scoring above the default alert threshold 0.8;
  2. p50/p95/p99 of the scores of ordinary and of misuse calls (GOAL: ordinary p95 < 0.3);
  3. microseconds per observe() (GOAL <= 20 us), best of --repeat passes over the whole stream, with the
     ratio to a baseline measured in the same run: copying each call's arguments into a new dict. Also
     score() alone on a trained model, and observe() from 4 threads at once (aggregate).
     Times are CPU time (time.process_time, all threads), so other jobs on a shared machine do not
     inflate them; wall-clock time is printed next to the single-thread figure for comparison.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence

from otel_ai_incident.guardrails.anomaly import ToolArgumentScorer
from otel_ai_incident.testing.anomaly_sim import SimCall, simulate

ALERT_THRESHOLD = 0.8
THREADS = 4


def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """P(score of a random positive > score of a random negative), ties counting half (Mann-Whitney U)."""
    ranked = sorted([(s, True) for s in positives] + [(s, False) for s in negatives])
    rank_sum = 0.0
    i = 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        average_rank = (i + 1 + j) / 2  # ranks i+1 .. j share their mean
        rank_sum += average_rank * sum(1 for k in range(i, j) if ranked[k][1])
        i = j
    n_pos, n_neg = len(positives), len(negatives)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    return sorted_values[min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))]


def best_time(run: Callable[[], object], repeat: int, clock: Callable[[], float] = time.process_time) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = clock()
        run()
        best = min(best, clock() - start)
    return best


def observe_all(traffic: Sequence[SimCall], seed: int) -> list[float]:
    scorer = ToolArgumentScorer(seed=seed)
    return [scorer.observe(call.tool, call.arguments) for call in traffic]


def observe_threaded(traffic: Sequence[SimCall], seed: int) -> None:
    scorer = ToolArgumentScorer(seed=seed)

    def worker(offset: int) -> None:
        for call in traffic[offset::THREADS]:
            scorer.observe(call.tool, call.arguments)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calls", type=int, default=6000)
    parser.add_argument("--clean-calls", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    traffic = simulate(seed=args.seed, calls=args.calls, clean_calls=args.clean_calls)
    scores = observe_all(traffic, args.seed)
    judged = list(zip(traffic, scores, strict=True))[args.clean_calls :]
    normal = sorted(score for call, score in judged if not call.anomalous)
    misuse = sorted(score for call, score in judged if call.anomalous)
    by_class: dict[str, list[float]] = defaultdict(list)
    for call, score in judged:
        if call.misuse is not None:
            by_class[call.misuse].append(score)

    auc = roc_auc(misuse, normal)
    print(
        f"traffic: {len(traffic)} calls (seed {args.seed}); judged after the first {args.clean_calls}: "
        f"{len(normal)} ordinary, {len(misuse)} misuse"
    )
    print(f"ROC AUC                      {auc:.4f}   (GOAL >= 0.98: {'met' if auc >= 0.98 else 'NOT met'})")
    for name, values in (("ordinary", normal), ("misuse", misuse)):
        p50, p95, p99 = (percentile(values, q) for q in (50, 95, 99))
        print(f"{name:9s} score p50/p95/p99 {p50:.4f} / {p95:.4f} / {p99:.4f}")
    print(
        f"ordinary p95 < 0.3: {'met' if percentile(normal, 95) < 0.3 else 'NOT met'}; "
        f"ordinary above {ALERT_THRESHOLD}: {sum(s > ALERT_THRESHOLD for s in normal) / len(normal):.2%}"
    )
    for kind in sorted(by_class):
        values = by_class[kind]
        caught = sum(s > ALERT_THRESHOLD for s in values)
        print(f"  {kind:16s} caught {caught:3d}/{len(values):3d}  min score {min(values):.3f}")

    n = len(traffic)
    baseline = best_time(lambda: [dict(call.arguments) for call in traffic], args.repeat) / n * 1e6
    observe = best_time(lambda: observe_all(traffic, args.seed), args.repeat) / n * 1e6
    observe_wall = best_time(lambda: observe_all(traffic, args.seed), args.repeat, time.perf_counter) / n * 1e6
    trained = ToolArgumentScorer(seed=args.seed)
    for call in traffic:
        trained.observe(call.tool, call.arguments)
    score_only = best_time(lambda: [trained.score(c.tool, c.arguments) for c in traffic], args.repeat) / n * 1e6
    threaded = best_time(lambda: observe_threaded(traffic, args.seed), args.repeat) / n * 1e6
    print(f"baseline dict copy           {baseline:7.2f} us/call")
    print(
        f"observe (score + learn)      {observe:7.2f} us/call  {observe / baseline:6.0f}x baseline  "
        f"(GOAL <= 20 us: {'met' if observe <= 20 else 'NOT met'}; wall clock {observe_wall:.2f} us)"
    )
    print(f"score only (trained)         {score_only:7.2f} us/call  {score_only / baseline:6.0f}x baseline")
    print(f"observe, {THREADS} threads, aggregate {threaded:7.2f} us/call  {threaded / observe:6.2f}x single-thread")


if __name__ == "__main__":
    main()
