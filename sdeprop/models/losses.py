"""Continuous energy losses b(x, E) = −dE/dt, applied as a deterministic drift in energy.

This release carries the interface and one analytic process; the lepton issue adds the
synchrotron, inverse-Compton, bremsstrahlung and Coulomb processes behind the same tags.

* ``LOSS_NONE``: no losses (protons here).
* ``LOSS_QUADRATIC``: b = b0 E², uniform in space (Thomson-limit synchrotron + IC form used
  by the Syrovatskii solution, PHYSICS.md §8.5).  The update E' = E/(1 + b0 E dt) is exact
  for this b over a step and stays positive (DESIGN.md §2).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..units import MYR_S

LOSS_NONE = 0
LOSS_QUADRATIC = 1
N_LOSS_PARAMS = 4


@njit(cache=True, inline="always")
def loss_rate(kind, p, x, y, z, energy_GeV):
    """b = −dE/dt [GeV/Myr] at position (kpc) and energy (GeV). p[0] = b0 [GeV⁻¹ Myr⁻¹]."""
    if kind == LOSS_QUADRATIC:
        return p[0] * energy_GeV * energy_GeV
    return 0.0


@njit(cache=True, inline="always")
def energy_after_step(kind, p, x, y, z, energy_GeV, dt_Myr):
    """Energy after dt of losses; exact for b ∝ E² and never negative."""
    if kind == LOSS_QUADRATIC:
        return energy_GeV / (1.0 + p[0] * energy_GeV * dt_Myr)
    return energy_GeV


def build_losses(loss_cfg) -> tuple[int, np.ndarray]:
    """Turn the [losses] section into (kind, params) with b0 converted to GeV⁻¹ Myr⁻¹."""
    p = np.zeros(N_LOSS_PARAMS)
    if loss_cfg.model == "none":
        return LOSS_NONE, p
    p[0] = loss_cfg.b0_per_GeV_per_s * MYR_S
    return LOSS_QUADRATIC, p
