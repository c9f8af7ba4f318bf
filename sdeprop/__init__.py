"""sdeprop: pseudo-particle (SDE) Monte Carlo transport of Galactic cosmic rays with
anisotropic, field-aligned diffusion.

Public API::

    cfg = sdeprop.load_config("runs/quickstart.toml")   # or a dict
    result = sdeprop.run(cfg)                             # -> Result
    result = sdeprop.load_result("outputs/quickstart.h5")
    tally = result.tallies["galaxy"]
    tally.density, tally.uncertainty, tally.edges["R_kpc"]
    tally.reweight(sdeprop.spectra.PowerLaw(2.4))
"""

__version__ = "0.1.0"

from . import (
    _numba_cache,  # noqa: E402,F401  (must come before any jitted module)
    config_checks,  # noqa: E402,F401  (registers the checks config.py runs but cannot import)
    spectra,  # noqa: E402
)
from .config import Config, load_config  # noqa: E402
from .engine import run  # noqa: E402
from .errors import ConfigError  # noqa: E402
from .io import load_result, write_result  # noqa: E402
from .result import Density, Result, Tally  # noqa: E402

__all__ = [
    "Config",
    "ConfigError",
    "Density",
    "Result",
    "Tally",
    "load_config",
    "load_result",
    "run",
    "spectra",
    "write_result",
    "__version__",
]
