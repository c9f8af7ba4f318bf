"""The configuration checks that need the models or the field-grid reader, handed to config.py.

config.py imports no model, reader or engine module (tests/test_architecture.py), yet some keys can
only be judged by the code that uses them.  The schema therefore calls those checks by name
(``config.CHECK_NAMES``) and this module registers them; sdeprop/__init__.py imports it right after
config.py, so they are in place before any configuration is loaded.  Each check raises ValueError,
TypeError or KeyError with a message, to which the schema adds the key.
"""

from __future__ import annotations

from .config import register_check
from .io import load_field_grid
from .models.field import gmf_params
from .models.gmf_jf12 import jf12_random_params
from .models.isrf import isrf_from_config
from .models.losses import check_loss_processes


def _field_model_parameters(model: str, variant, overrides: dict) -> None:
    """A Galactic field model's variant and parameter overrides (``[field] overrides``)."""
    gmf_params(model, variant, overrides)


def _turbulence_parameters(variant, overrides: dict) -> None:
    """The 'jf12_random' variant (default 'jf12') and parameter overrides (``[turbulence]``)."""
    jf12_random_params(variant or "jf12", **overrides)


def _field_grid_file(path: str) -> None:
    """The file of field model 'grid': readable, complete, on a uniform grid, finite."""
    load_field_grid(path)


register_check("field_model_parameters", _field_model_parameters)
register_check("turbulence_parameters", _turbulence_parameters)
register_check("isrf", isrf_from_config)
register_check("loss_processes", check_loss_processes)
register_check("field_grid_file", _field_grid_file)
