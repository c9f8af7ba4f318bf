"""The package's exception classes.

They live in a module of their own, which imports nothing from the package, so that every layer
(the configuration schema, the models, the engine, the readers and writers, the command line) can
raise and catch them without importing each other.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration problem, with a message naming the key, the value and the allowed range."""


class CheckpointError(ConfigError):
    """A file of a partial run's checkpoint folder that cannot be trusted (unreadable, damaged, from
    another run); the message names the file and says how to start afresh (``--restart``)."""


class OutputInUseError(ConfigError):
    """Another process holds the lock on the output path; the message names that process (pid, host,
    since when) and the output."""


class InputOverwriteError(ConfigError):
    """An output path that names one of the command's input files (same path, symbolic or hard link);
    writing it would replace the input."""
