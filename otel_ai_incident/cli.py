"""The `otel-ai-incident` command: one thin entry point over the package.

Each area of the package contributes its sub-commands through a `commands` module with
`register(subparsers)`; the handler it sets with `set_defaults(handler=...)` gets the parsed arguments and
returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from importlib import metadata

#: The exit status of a command whose reader went away (`logs export | head`), as if killed by SIGPIPE.
EXIT_CLOSED_PIPE = 141

# Areas whose `commands` module adds sub-commands, in the order they appear in --help.
_COMMAND_MODULES: tuple[str, ...] = (
    "otel_ai_incident.demo.commands",
    "otel_ai_incident.promptlog.commands",
    "otel_ai_incident.containment.commands",
    "otel_ai_incident.server.commands",
    "otel_ai_incident.incidents.commands",
    "otel_ai_incident.generate.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-ai-incident",
        description="Detect, contain and investigate AI incidents with OpenTelemetry and Prometheus.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = int(args.handler(args) or 0)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader closed the pipe: stop quietly, and keep the interpreter's final flush from failing too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_CLOSED_PIPE
    return status


def _version() -> str:
    try:
        return metadata.version("otel-ai-incident")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


if __name__ == "__main__":
    sys.exit(main())
