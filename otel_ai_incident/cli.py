"""The `otel-ai-incident` command: one thin entry point over the package.

Each area of the package contributes its sub-commands through a `commands` module with
`register(subparsers)`; the handler it sets with `set_defaults(handler=...)` gets the parsed arguments and
returns the exit code, or raises `commandline.CommandFailed`, which is reported here, the one place every
failure (a usage error too) is printed: one line on stderr, or a JSON object on stdout for `--json`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import NoReturn

from otel_ai_incident.commandline import PROG, CommandFailed, ErrorType, report, wants_json

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


class _UsageError(Exception):
    """argparse's error, raised instead of printed so `main` reports it (as JSON when --json was given)."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser (and, inherited, every sub-command's) whose usage errors reach `main`."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(self, message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Detect, contain and investigate AI incidents with OpenTelemetry and Prometheus.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(arguments)
    except _UsageError as usage:
        as_json = wants_json(usage.parser, arguments)
        if not as_json:
            usage.parser.print_usage(sys.stderr)
        return report(CommandFailed(usage.message, ErrorType.USAGE, exit_code=2), as_json=as_json)
    try:
        status = int(args.handler(args) or 0)
        sys.stdout.flush()
    except CommandFailed as failure:
        status = report(failure, as_json=getattr(args, "json", None) is True)
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
