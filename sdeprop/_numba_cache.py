"""Key numba's on-disk cache on the content of the whole package.

numba invalidates a cached function when *its own* source file changes, but not when a
function it calls from another module does: a kernel compiled against an older version of
``tallies.py`` or ``models/field.py`` would be loaded and silently run the old code.  We
therefore point numba's cache at a folder named after a hash of every ``.py`` file of the
package, so any change gives a fresh cache.  The folder lies under ``$NUMBA_CACHE_DIR`` when
that is set, else under ``$XDG_CACHE_HOME/sdeprop-numba`` (``~/.cache``).  If it cannot be
created, numba's default is left alone.

A compiled function that cannot be saved there (a full disk, a quota) is not an error: the
function was compiled in memory and works; the failure is logged once as a warning and the next
process compiles again.  (numba itself would raise the OSError out of the compilation, ending a
run for the sake of a cache.)
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path


def package_hash() -> str:
    """A short hash of the package's Python sources (names and contents)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def configure() -> str | None:
    """Set numba's cache folder (before any jitted function of the package is defined)."""
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "sdeprop-numba"
    )
    folder = os.path.join(base, package_hash())
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    from numba.core import config

    config.CACHE_DIR = folder
    return folder


def tolerate_cache_write_failures():
    """Make numba log, instead of raise, an OSError while saving a compiled function to its cache."""
    from numba.core import caching

    save = caching.Cache.save_overload
    if getattr(save, "tolerates_write_failures", False):
        return
    warned = []

    def save_overload(self, sig, data):
        try:
            save(self, sig, data)
        except OSError as exc:
            if not warned:
                warned.append(True)
                logging.getLogger("sdeprop").warning(
                    "could not save compiled code to numba's cache in '%s' (%s); it is compiled again in "
                    "each new process until there is room",
                    CACHE_DIR or "numba's default folder",
                    exc.strerror or exc,
                )

    save_overload.tolerates_write_failures = True
    caching.Cache.save_overload = save_overload


CACHE_DIR = configure()
tolerate_cache_write_failures()
