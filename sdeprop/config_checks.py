"""The configuration checks that need the models or the field-grid reader, handed to config.py.

config.py imports no model, reader or engine module (tests/test_architecture.py), yet some keys can
only be judged by the code that uses them.  The schema therefore calls those checks by name
(``config.CHECK_NAMES``) and this module registers them; sdeprop/__init__.py imports it right after
config.py, so they are in place before any configuration is loaded.  Each check raises ValueError,
TypeError or KeyError with a message, to which the schema adds the key.
"""

from __future__ import annotations

from .config import register_check
from .io import load_field_grid, load_source_grid
from .models.field import gmf_params
from .models.gmf_jf12 import jf12_random_params
from .models.isrf import isrf_from_config
from .models.losses import check_loss_processes
from .models.sources import grid_source
from .models.spatial_diffusion import load_diffusion_grid

#: override keys that are on/off switches of a component: true/false or a scale factor (jf12_params,
#: jf12_random_params); every other parameter of the models is a number and refuses true/false
SWITCH_OR_SCALE = {
    "jf12": ("disk", "ring", "halo", "x"),
    "jf12_solenoidal": ("disk", "ring", "halo", "x"),
    "jf12_random": ("disk", "halo"),
}
#: override keys that take true/false only (jf12_solenoidal_params)
SWITCH_ONLY = {"jf12_solenoidal": ("outer_transition",)}


def _check_override_types(model: str, overrides: dict) -> None:
    """A switch takes true/false, a parameter a number: the models would convert either silently."""
    for key, value in overrides.items():
        if key in SWITCH_ONLY.get(model, ()):
            if not isinstance(value, bool):
                raise TypeError(f"overrides.{key} = {value!r}: must be true or false")
        elif isinstance(value, bool) and key not in SWITCH_OR_SCALE.get(model, ()):
            switches = ", ".join(SWITCH_OR_SCALE.get(model, ()) + SWITCH_ONLY.get(model, ())) or "none"
            raise TypeError(
                f"overrides.{key} = {str(value).lower()}: must be a number, not true/false (the "
                f"switches that take true/false: {switches})"
            )


def _field_model_parameters(model: str, variant, overrides: dict) -> None:
    """A Galactic field model's variant and parameter overrides (``[field] overrides``)."""
    _check_override_types(model, overrides)
    gmf_params(model, variant, overrides)


def _turbulence_parameters(variant, overrides: dict) -> None:
    """The 'jf12_random' variant (default 'jf12') and parameter overrides (``[turbulence]``)."""
    _check_override_types("jf12_random", overrides)
    jf12_random_params(variant or "jf12", **overrides)


def _field_grid_file(path: str) -> None:
    """The file of field model 'grid': readable, complete, on a uniform grid, finite."""
    load_field_grid(path)


def _field_grid_extent(path: str) -> tuple[tuple[float, float], ...]:
    """The (first, last) node coordinates [kpc] of the field-grid file along x, y and z."""
    data = load_field_grid(path)
    return tuple((float(data[k][0]), float(data[k][-1])) for k in ("x", "y", "z"))


def _source_grid_file(path: str, dataset, halo_height_kpc: float, radius_max_kpc: float) -> None:
    """The file of source type 'gridded': readable, a valid grid, its density inside the halo."""
    data = load_source_grid(path, dataset)
    try:
        grid_source(data["geometry"], data["axes"], data["values"], data["energies_GeV"]).check_inside_halo(
            halo_height_kpc, radius_max_kpc
        )
    except ValueError as exc:
        raise ValueError(f"source grid '{path}': {exc}") from None


def _turbulent_diffusion(model: str, options: dict) -> None:
    """The model and options of diffusion.spatial = 'turbulence' (``[diffusion.turbulence]``)."""
    from .models.turbulent_diffusion import check_turbulence_options

    check_turbulence_options(model, options)


register_check("turbulent_diffusion", _turbulent_diffusion)
register_check("diffusion_grid_file", load_diffusion_grid)
register_check("field_model_parameters", _field_model_parameters)
register_check("turbulence_parameters", _turbulence_parameters)
register_check("isrf", isrf_from_config)
register_check("loss_processes", check_loss_processes)
register_check("field_grid_file", _field_grid_file)
register_check("field_grid_extent", _field_grid_extent)
register_check("source_grid_file", _source_grid_file)
