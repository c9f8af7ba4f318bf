"""The ``sdeprop`` command: ``sdeprop VERB ...`` with one module of this package per verb.

Each verb module has ``add_parser(subparsers)`` (adds its sub-command and returns the parser)
and ``main(args)`` (parses nothing more: calls the library and prints).  What the verbs share
(common options, the KEY=VALUE parser, ``--set``) is in :mod:`sdeprop.cli.args`.

Bad input ends with one line on stderr (``sdeprop: error: ...``) and exit status 2, never a
traceback; so does a failed write (disk full), which names the file.  Ctrl-C ends with status
130 and SIGTERM with 143, after the same clean-up (temporary files removed, worker pool shut
down, finished batches kept for resuming).  The command only writes figures to files, so
:func:`main` always selects matplotlib's non-interactive Agg backend before a verb imports pyplot
(the library's plotting functions leave the backend to their caller).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading

VERBS = (
    "run",
    "merge",
    "reweight",
    "plot",
    "info",
    "config",
    "fit",
    "skymap",
    "secondaries",
    "field",
    "losses",
    "crosscheck",
    "slope",
)
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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that the same clean-up as for Ctrl-C runs: temporary
    files are removed, the worker pool is shut down, finished batches stay saved."""


TERMINATED_EXIT_STATUS = 128 + signal.SIGTERM


def _handle_terminate(received: list):
    def handler(signum, frame):
        if received:  # a second SIGTERM during the clean-up does not cut it short (SIGKILL still does)
            return
        received.append(signum)
        raise Terminated()

    return handler


BROKEN_PIPE_EXIT_STATUS = 128 + signal.SIGPIPE
"""Exit status when the reader of standard output goes away (what a shell shows for SIGPIPE)."""


def main(argv=None) -> int:
    """Run ``sdeprop`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    SIGTERM becomes :class:`Terminated` while the verb runs (exit status 143 with a one-line
    message); Ctrl-C gives 130."""
    from ..errors import ConfigError

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="sdeprop: %(levelname)s: %(message)s"
    )
    import matplotlib

    matplotlib.use("Agg")
    terminated: list = []
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _handle_terminate(terminated)) if in_main_thread else None
    try:
        args.func(args)
    except BrokenPipeError:
        # the reader of our output has gone (``sdeprop info OUT.h5 | head``): stop quietly, as a
        # command killed by SIGPIPE does, and keep the interpreter's final flush from failing again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE_EXIT_STATUS
    except (ConfigError, ValueError, FileNotFoundError, OSError, TypeError) as exc:
        print(f"sdeprop: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        if terminated:
            detail = f": {exc}" if str(exc) else ""  # what a run kept, for instance
            print(f"sdeprop: terminated (SIGTERM){detail}", file=sys.stderr)
            return TERMINATED_EXIT_STATUS
        print(f"sdeprop: {str(exc) or 'interrupted; no output was written'}", file=sys.stderr)
        return 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    if terminated:  # the exception was swallowed on its way (by a library's clean-up); the work finished
        print("sdeprop: terminated (SIGTERM) after the work had finished", file=sys.stderr)
        return TERMINATED_EXIT_STATUS
    return 0
