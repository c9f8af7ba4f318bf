"""Catastrophic losses: the rate ν(x, E) [Myr⁻¹] at which a particle is removed (inelastic
collisions with the gas, decay), applied by the kernel as a weight factor exp(−∫ν dt) on every
score instead of killing particles at random: the same expectation, less variance (docs/transport.md).

* inelastic pp (protons): ν = β c σ_inel(T) (n_H + r_He σ_pHe/σ_pp n_H), σ_inel of Kafexhiu et al.
  2014 (PRD 90 123014, eq. 1), n_H = n_HI + 2 n_H2 + n_HII of the loss model's gas, r_He =
  losses.gas.helium_ratio and σ_pHe/σ_pp = catastrophic.helium_cross_section_ratio;
* decay: ν = 1/(γ τ) for a rest-frame lifetime τ.

The gas part is separable, ν = n(R, z) g(E), and uses the loss model's (R, z, ln E) table
(``losses.separable_table`` / ``tabulated_coefficient``); the decay part is one number per energy.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..units import MYR_S
from . import loss_processes as lp
from .losses import N_LOSS_HEADER, P_MASS, LossModel, separable_table, tabulated_coefficient

CATASTROPHIC_NONE = 0
CATASTROPHIC_ON = 1
#: header slots of the catastrophic parameters beyond the loss-table header
P_DECAY_RATE = P_MASS  # 1/τ [Myr⁻¹] (0: no decay); the table's mass slot is unused here


@njit(cache=True, error_model="numpy")
def catastrophic_rate(kind, p, r, z, kinetic_GeV, ln_e, mass_GeV):
    """ν [Myr⁻¹] at (R, z) [kpc] and kinetic energy E [GeV] (ln E = ``ln_e``)."""
    if kind == CATASTROPHIC_NONE:
        return 0.0
    nu = tabulated_coefficient(p, r, z, ln_e)
    if p[P_DECAY_RATE] > 0.0:
        nu += p[P_DECAY_RATE] * mass_GeV / (kinetic_GeV + mass_GeV)  # 1/(γ τ)
    return nu


def inelastic_rate_per_s(kinetic_GeV, n_H_cm3, helium_ratio=0.0, helium_cross_section_ratio=0.0):
    """ν [s⁻¹] of a proton of kinetic energy T [GeV] in gas of hydrogen density n_H [cm⁻³]: β c σ_inel(T)
    (1 + r_He σ_pHe/σ_pp) n_H (Kafexhiu et al. 2014 eq. 1 for σ_inel)."""
    t = np.atleast_1d(np.asarray(kinetic_GeV, dtype=float))
    m = lp.M_P_GEV
    beta = np.sqrt(t * (t + 2 * m)) / (t + m)
    sigma = np.array([lp.sigma_inel_pp_mb(v) for v in t]) * lp.MB_CM2
    return beta * lp.C_CM_S * sigma * n_H_cm3 * (1.0 + helium_ratio * helium_cross_section_ratio)


def _hydrogen_density(model, pts):
    """n_H = n_HI + 2 n_H2 + n_HII [cm⁻³] of the loss model's gas at the rows of ``pts`` [kpc]."""
    n_h, _, n_hii = model._densities(pts)
    return n_h + n_hii


def build_catastrophic(cfg, energy_floor_GeV) -> tuple[int, np.ndarray]:
    """(kind, params) of ``[catastrophic]`` for the kernel."""
    cc = cfg.catastrophic
    head = np.zeros(N_LOSS_HEADER)
    if not cc.inelastic and cc.decay_lifetime_Myr is None:
        return CATASTROPHIC_NONE, head
    if cc.inelastic and cfg.species.name != "proton":
        raise ValueError(
            f"catastrophic.inelastic is for protons (pp collisions); species is '{cfg.species.name}'"
        )
    if cc.decay_lifetime_Myr is not None:
        head[P_DECAY_RATE] = 1.0 / cc.decay_lifetime_Myr
    blocks = [head]
    if cc.inelastic:
        model = LossModel.from_config(cfg)
        he = cfg.losses.gas.helium_ratio * cc.helium_cross_section_ratio
        chans = [
            (
                "n_H",
                lambda pts: _hydrogen_density(model, pts),
                lambda e: inelastic_rate_per_s(e, 1.0, he, 1.0),
            )
        ]
        lc = cfg.losses
        blocks += separable_table(
            head,
            chans,
            lambda e: MYR_S,
            energy_min_GeV=energy_floor_GeV / 1.05,
            energy_max_GeV=cfg.energy.max_GeV * 1.05 * 10.0,
            radius_max_kpc=cfg.galaxy.radius_max_kpc,
            halo_height_kpc=cfg.galaxy.halo_height_kpc,
            points_per_decade=lc.table_points_per_decade,
            R_spacing_kpc=lc.table_R_spacing_kpc,
            z_resolution_kpc=lc.table_z_resolution_kpc,
        )
    return CATASTROPHIC_ON, np.concatenate(blocks)
