"""Interstellar gas in three dimensions for sky maps (placeholder: the GALPROP analytic model only).

``gas_components(kind, params, grid, x, y, z)`` returns (n_HI, n_H2 [molecules], n_HII) [cm⁻³] at a
Galactocentric point [kpc]; ``hydrogen_nuclei`` their nucleus density n_HI + 2 n_H2 + n_HII.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .gas import build_gas, gas_densities

GAS_GALPROP = 0


@njit(cache=True, error_model="numpy")
def gas_components(kind, params, grid, x, y, z):
    """(n_HI, n_H2 molecules, n_HII) [cm⁻³] at (x, y, z) [kpc] (GALPROP analytic, docs/physics.md §5.1)."""
    return gas_densities(params, x, y, z)


@njit(cache=True, error_model="numpy")
def hydrogen_nuclei(kind, params, grid, x, y, z):
    """Hydrogen-nucleus density n_HI + 2 n_H2 + n_HII [cm⁻³] at (x, y, z) [kpc]."""
    a, b, c = gas_components(kind, params, grid, x, y, z)
    return a + 2.0 * b + c


@dataclass
class GasModel:
    """A gas model as the numba functions take it: kind code, parameters and a (3, n0, n1, n2) grid."""

    name: str
    kind: int
    params: np.ndarray
    grid: np.ndarray


def build_gas_model(name: str = "galprop", **options) -> GasModel:
    """The analytic gas model ``name`` ("galprop")."""
    if name != "galprop":
        raise ValueError(f"gas model {name!r} is unknown; choose from ['galprop']")
    return GasModel(name, GAS_GALPROP, build_gas(**options), np.zeros((3, 1, 1, 1)))
