"""Key numba's on-disk cache on the content of the whole package.

numba invalidates a cached function when *its own* source file changes, but not when a
function it calls from another module does: a kernel compiled against an older version of
``tallies.py`` or ``models/field.py`` would be loaded and silently run the old code.  We
therefore point numba's cache at a folder named after a hash of every ``.py`` file of the
package, so any change gives a fresh cache.  The folder lies under ``$NUMBA_CACHE_DIR`` when
that is set, else under ``$XDG_CACHE_HOME/sdeprop-numba`` (``~/.cache``).  If it cannot be
created, numba's default is left alone.
"""

from __future__ import annotations

import hashlib
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


CACHE_DIR = configure()
