"""Run the instrumented support bot (fake model, no network) on a reproducible traffic mix, serving /metrics.

The bot itself is `otel_ai_incident/demo/bot.py`: read it to see every hook in its place. This script
instruments the process, sends the normal mix (answers, guardrail blocks, tool calls, refusals) and a few
user reports, and prints a JSON summary.

    python examples/support_bot.py --turns 200            # run the mix, print a summary, exit
    python examples/support_bot.py --turns 200 --serve    # ... then keep serving /metrics until SIGTERM
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections import Counter

import otel_ai_incident as aii
from otel_ai_incident.demo.bot import SupportBot, Traffic


def run(turns: int, seed: int, reports: int) -> dict[str, object]:
    bot, traffic = SupportBot(), Traffic(seed)
    requests = [traffic.normal() for _ in range(turns)]
    for request in requests:
        bot.handle(request)
    for i in range(reports):
        aii.report_user_feedback(kind="harmful", severity="p2" if i % 2 else "p3", session_id=requests[i].session_id)
    return {"turns": turns, "kinds": dict(Counter(r.kind for r in requests)), "reports": reports}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reports", type=int, default=3, help="harmful-content reports sent after the mix")
    parser.add_argument("--service-name", default="support-bot")
    parser.add_argument("--port", type=int, default=None, help="/metrics port (default: OTEL_EXPORTER_PROMETHEUS_PORT)")
    parser.add_argument("--host", default=None)
    parser.add_argument("--serve", action="store_true", help="keep serving /metrics after the mix until SIGTERM")
    args = parser.parse_args(argv)

    handle = aii.instrument(service_name=args.service_name, prometheus_host=args.host, prometheus_port=args.port)
    summary = run(args.turns, args.seed, args.reports)
    address = handle.prometheus_address
    summary["metrics_url"] = f"http://{address[0]}:{address[1]}/metrics" if address else None
    print(json.dumps(summary), flush=True)
    if args.serve:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    handle.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
