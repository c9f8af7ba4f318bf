"""The package's exception classes.

They live in a module of their own, which imports nothing from the package, so that every layer
(the configuration schema, the models, the engine, the readers and writers, the command line) can
raise and catch them without importing each other.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration problem, with a message naming the key, the value and the allowed range."""
