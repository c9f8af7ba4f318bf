"""The ``sdeprop`` command: ``sdeprop VERB ...`` with one module of this package per verb.

Each verb module has ``add_parser(subparsers)`` (adds its sub-command and returns the parser)
and ``main(args)`` (parses nothing more: calls the library and prints).  What the verbs share
(common options, the KEY=VALUE parser, ``--set``) is in :mod:`sdeprop.cli.args`.

Bad input ends with one line on stderr (``sdeprop: error: ...``) and exit status 2, never a
traceback.  The command only writes figures to files, so :func:`main` always selects
matplotlib's non-interactive Agg backend before a verb imports pyplot (the library's plotting
functions leave the backend to their caller).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

VERBS = ("run", "merge", "reweight", "plot", "info", "config", "fit", "field", "losses", "crosscheck")
"""The verbs, in the order ``sdeprop --help`` lists them; each is the module ``sdeprop.cli.<verb>``."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdeprop",
        description="SDE Monte Carlo transport of Galactic cosmic rays with anisotropic diffusion.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="VERB")
    for verb in VERBS:
        module = importlib.import_module(f"{__name__}.{verb}")
        module.add_parser(subparsers).set_defaults(func=module.main)
    return parser


def main(argv=None) -> int:
    """Run ``sdeprop`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    from ..errors import ConfigError

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="sdeprop: %(levelname)s: %(message)s"
    )
    import matplotlib

    matplotlib.use("Agg")
    try:
        args.func(args)
    except (ConfigError, ValueError, FileNotFoundError, OSError, TypeError) as exc:
        print(f"sdeprop: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"sdeprop: {str(exc) or 'interrupted; no output was written'}", file=sys.stderr)
        return 130
    return 0
