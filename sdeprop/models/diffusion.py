"""Rigidity-dependent parallel and perpendicular diffusion coefficients.

D∥(R) = D0 β (R/R0)^δ∥ (power law), or the smooth broken power law of Dörner et al.
(ICRC2025 proceedings, eq. 1): D∥ = D0 β (R/R_br)^γ1 / [1 + (R/R_br)^(γ2−γ1)].
D⊥ = ε D∥(R0) (R/R0)^δ⊥ β when δ⊥ is given, otherwise D⊥ = ε D∥.  The tensor is
D_ij = D⊥ δ_ij + (D∥ − D⊥) b_i b_j (docs/design.md §1).  Internal unit kpc²/Myr.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..units import ELECTRON_MASS_GEV, PROTON_MASS_GEV, diffusion_cm2_per_s_to_kpc2_per_myr

DIFF_POWER_LAW = 0
DIFF_BROKEN = 1
N_DIFF_PARAMS = 10

SPECIES = {
    # name: (mass [GeV], charge number Z)
    "proton": (PROTON_MASS_GEV, 1.0),
    "electron": (ELECTRON_MASS_GEV, -1.0),
    "positron": (ELECTRON_MASS_GEV, 1.0),
}


@njit(cache=True, inline="always")
def rigidity_and_beta(kinetic_GeV, mass_GeV, charge):
    """Rigidity R = p c/(|Z| e) [GV] and speed β = p c/E_tot for kinetic energy T."""
    p = math.sqrt(kinetic_GeV * (kinetic_GeV + 2.0 * mass_GeV))
    return p / abs(charge), p / (kinetic_GeV + mass_GeV)


@njit(cache=True, inline="always")
def diffusion_coefficients(kind, p, kinetic_GeV, mass_GeV, charge):
    """(D∥, D⊥) in kpc²/Myr at kinetic energy T [GeV].

    p = (D0 [kpc²/Myr], R0 [GV], δ∥, ε, δ⊥, use δ⊥ (0/1), use β (0/1), R_br [GV], γ1, γ2).
    """
    rig, beta = rigidity_and_beta(kinetic_GeV, mass_GeV, charge)
    b = beta if p[6] > 0.5 else 1.0
    if kind == DIFF_POWER_LAW:
        dpar = p[0] * b * (rig / p[1]) ** p[2]
        dpar_ref = p[0] * b
    else:
        x = rig / p[7]
        dpar = p[0] * b * x ** p[8] / (1.0 + x ** (p[9] - p[8]))
        xr = p[1] / p[7]
        dpar_ref = p[0] * b * xr ** p[8] / (1.0 + xr ** (p[9] - p[8]))
    if p[5] > 0.5:
        dperp = p[3] * dpar_ref * (rig / p[1]) ** p[4]
    else:
        dperp = p[3] * dpar
    return dpar, dperp


def build_diffusion(diff_cfg) -> tuple[int, np.ndarray]:
    """Turn the [diffusion] section into (kind, params) in internal units."""
    p = np.zeros(N_DIFF_PARAMS)
    p[0] = diffusion_cm2_per_s_to_kpc2_per_myr(diff_cfg.D0_cm2_per_s)
    p[1] = diff_cfg.reference_rigidity_GV
    p[2] = diff_cfg.delta_par
    p[3] = diff_cfg.epsilon
    p[4] = diff_cfg.delta_perp if diff_cfg.delta_perp is not None else 0.0
    p[5] = 1.0 if diff_cfg.delta_perp is not None else 0.0
    p[6] = 1.0 if diff_cfg.beta else 0.0
    p[7] = diff_cfg.break_rigidity_GV
    p[8] = diff_cfg.gamma1
    p[9] = diff_cfg.gamma2
    kind = DIFF_POWER_LAW if diff_cfg.form == "power_law" else DIFF_BROKEN
    return kind, p


def kinetic_from_rigidity(rigidity_GV, mass_GeV, charge):
    """Kinetic energy T = sqrt((|Z| R)² + m²) − m [GeV] of rigidity R [GV] (p = |Z| R in GeV/c)."""
    p = abs(charge) * np.asarray(rigidity_GV, dtype=float)
    return np.sqrt(p * p + mass_GeV * mass_GeV) - mass_GeV


def diffusion_at(diff_cfg, species: str, kinetic_GeV):
    """Vectorised convenience: (D∥, D⊥) in kpc²/Myr for an array of kinetic energies."""
    kind, p = build_diffusion(diff_cfg)
    mass, charge = SPECIES[species]
    e = np.atleast_1d(np.asarray(kinetic_GeV, dtype=float))
    out = np.array([diffusion_coefficients(kind, p, ei, mass, charge) for ei in e])
    return out[:, 0], out[:, 1]
