"""The ``circuitxbar`` command. Each subcommand lives beside the code it drives and registers
itself through an ``add_parser(subparsers)`` function that sets ``func`` on its parser."""

from __future__ import annotations

import argparse
import importlib
import sys

from circuitxbar.errors import CircuitxbarError

# (module, purpose) of every subcommand; imported lazily so one broken extra never blocks the rest
SUBCOMMANDS = (
    "circuitxbar.demo",
    "circuitxbar._precompile",
    "circuitxbar.devices.cli",
    "circuitxbar.workloads.cost_cli",
)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="circuitxbar",
        description="Circuit-level accuracy and power of memristor crossbar accelerators.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        try:
            importlib.import_module(module).add_parser(sub)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return parser


def main(argv=None):
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["demo"] + argv  # the embedded default job, with its options if any
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except CircuitxbarError as exc:
        print(f"circuitxbar: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
