"""Transport terms beyond uniform diffusion for the grid solvers (docs/transport.md, "The grid solvers").

The kernel's terms, evaluated where the finite-volume schemes need them:

* D that varies in space, D∥(x, R) = D∥(R) f∥(x, R) and D⊥ likewise: :class:`SpatialFactors` evaluates
  (f∥, f⊥, Δδ) with the kernel's own functions (``models.spatial_diffusion``); on a face the grid uses
  the harmonic mean of f at the centres of the two half cells that meet there (:func:`face_factors`),
  which is the exact flux coefficient of a one-dimensional D that jumps on the face and differs from the
  point value by O(h²) where f is smooth.
* the wind u = sign(z)(v0 + dv/dz |z|) ẑ (``models.advection``; u = 0 on the plane itself):
  :func:`wind_face_speed`, its finite-volume divergence per cell (:func:`wind_divergence`) and the
  adiabatic loss rate b_ad = (p v/3) ∇·u [GeV/Myr] (:func:`adiabatic_loss_rate`; dE/dt = v dp/dt and
  dp/dt = −(p/3) ∇·u);
* catastrophic losses ν(x, E) [Myr⁻¹] (``models.catastrophic.catastrophic_rate``):
  :func:`catastrophic_rates`;
* reacceleration K = D_pp/p² = 4 v_A²/(3 δ (4 − δ²)(4 − δ) D∥) [Myr⁻¹] (Seo & Ptuskin 1994, ApJ 431 705;
  ``models.reacceleration``): :func:`momentum_diffusion_K`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..io import read_field_grid
from ..models.advection import has_wind, wind_parameters
from ..models.catastrophic import CATASTROPHIC_NONE, build_catastrophic, catastrophic_rate
from ..models.diffusion import SPECIES
from ..models.field import build_field
from ..models.reacceleration import alfven_speed_kpc_per_myr, has_reacceleration
from ..models.spatial_diffusion import SPATIAL_UNIFORM, _many, build_spatial_diffusion, rigidity_selection

__all__ = [
    "SpatialFactors",
    "face_factors",
    "wind_face_speed",
    "wind_divergence",
    "adiabatic_loss_rate",
    "catastrophic_rates",
    "momentum_diffusion_K",
    "kinetic_to_momentum",
    "has_wind",
    "has_reacceleration",
    "has_catastrophic",
]


def kinetic_to_momentum(kinetic_GeV, mass_GeV):
    """(p [GeV/c], β) of kinetic energy T [GeV]: p = sqrt(T (T + 2m)), β = p/(T + m) (special relativity)."""
    t = np.asarray(kinetic_GeV, dtype=float)
    p = np.sqrt(t * (t + 2.0 * mass_GeV))
    return p, p / (t + mass_GeV)


def has_catastrophic(cfg) -> bool:
    return bool(cfg.catastrophic.inelastic) or cfg.catastrophic.decay_lifetime_Myr is not None


def _engine_field(cfg):
    """(kind, params, grid) of the field exactly as the engine builds it (its precomputed grid, if any)."""
    spacing = cfg.numerics.field_grid_spacing_kpc
    box = (cfg.galaxy.radius_max_kpc, cfg.galaxy.radius_max_kpc, cfg.galaxy.halo_height_kpc)
    return build_field(
        cfg.field,
        spacing,
        box if spacing is not None else None,
        cfg.numerics.field_grid_jacobian,
        grid_file=read_field_grid(cfg.field),
    )[:3]


class SpatialFactors:
    """f∥, f⊥ and Δδ (the change of D∥'s rigidity index) of ``[diffusion] spatial`` at points, evaluated by
    the kernel's ``spatial_factors`` (the same tables and field; docs/transport.md)."""

    def __init__(self, cfg):
        self.kind, self.params = build_spatial_diffusion(cfg)
        self.uniform = self.kind == SPATIAL_UNIFORM
        self.field = None if self.uniform else _engine_field(cfg)
        self.floor2 = float(cfg.numerics.field_floor_uG) ** 2
        self.mass, self.charge = SPECIES[cfg.species.name]

    def rigidity_GV(self, kinetic_GeV: float) -> float:
        p, _ = kinetic_to_momentum(kinetic_GeV, self.mass)
        return float(p) / abs(self.charge)

    def __call__(self, x, y, z, kinetic_GeV: float):
        """(f∥, f⊥, Δδ) at the points (x, y, z) [kpc] (broadcast arrays) for kinetic energy T [GeV]."""
        x, y, z = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x, y, z)))
        if self.uniform:
            one = np.ones(x.shape)
            return one, one.copy(), np.zeros(x.shape)
        j, dl = rigidity_selection(self.kind, self.params, math.log(self.rigidity_GV(kinetic_GeV)))
        pts = np.column_stack([x.ravel(), y.ravel(), z.ravel()])
        out = _many(self.kind, self.params, *self.field, self.floor2, j, dl, pts)
        return (
            np.exp(out[:, 0]).reshape(x.shape),
            np.exp(out[:, 1]).reshape(x.shape),
            out[:, 8].reshape(x.shape),
        )


def face_factors(sample, points_lo, points_hi):
    """(f∥, f⊥) on faces: the harmonic means of ``sample(*points)`` -> (f∥, f⊥, …) at the centres of the two
    half cells that meet on each face (``points_lo``, ``points_hi``: tuples of coordinate arrays).

    For f varying along the face normal only, 2/(1/f(a) + 1/f(b)) is the flux coefficient of the exact
    one-dimensional flux through two half cells in series when f jumps on the face, and f(face) + O(h²)
    where f is smooth."""
    lo, hi = sample(*points_lo), sample(*points_hi)
    return tuple(2.0 / (1.0 / lo[k] + 1.0 / hi[k]) for k in (0, 1))


def wind_face_speed(z_kpc, v0_kpc_per_Myr: float, dvdz_per_Myr: float):
    """u_z [kpc/Myr] = sign(z)(v0 + dv/dz |z|) at heights z [kpc], 0 on the plane (``models.advection``)."""
    z = np.asarray(z_kpc, dtype=float)
    return np.sign(z) * (v0_kpc_per_Myr + dvdz_per_Myr * np.abs(z))


def wind_divergence(z_faces_kpc, v0_kpc_per_Myr: float, dvdz_per_Myr: float):
    """∇·u [Myr⁻¹] averaged over each cell between consecutive faces: (u(z_top) − u(z_bottom))/h.

    This is the exact finite-volume integral of ∇·u = dv/dz + 2 v0 δ(z): dv/dz in every cell, plus
    2 v0/h in a cell that has the plane strictly inside, or v0/h in each of the two cells that share the
    plane as a face (u = 0 there, so each takes half of the jump)."""
    zf = np.asarray(z_faces_kpc, dtype=float)
    u = wind_face_speed(zf, v0_kpc_per_Myr, dvdz_per_Myr)
    return np.diff(u) / np.diff(zf)


def adiabatic_loss_rate(div_u_per_Myr, kinetic_GeV: float, mass_GeV: float):
    """b_ad = −dE/dt = (p v/3) ∇·u [GeV/Myr] (dp/dt = −(p/3) ∇·u, dE/dt = v dp/dt; ``models.advection``)."""
    p, beta = kinetic_to_momentum(kinetic_GeV, mass_GeV)
    return p * beta / 3.0 * np.asarray(div_u_per_Myr, dtype=float)


@njit(cache=True)
def _rates(kind, params, r, z, kinetic_GeV, mass_GeV):
    out = np.empty(r.size)
    ln_e = math.log(kinetic_GeV)
    for n in range(r.size):
        out[n] = catastrophic_rate(kind, params, r[n], z[n], kinetic_GeV, ln_e, mass_GeV)
    return out


class _Catastrophic:
    def __init__(self, cfg, energy_floor_GeV):
        self.kind, self.params = build_catastrophic(cfg, energy_floor_GeV)
        self.mass = SPECIES[cfg.species.name][0]


def catastrophic_rates(cfg, R_kpc, z_kpc, energy_floor_GeV: float):
    """A callable T [GeV] -> ν [Myr⁻¹] at the points (R, z) (flat arrays), from the kernel's
    ``catastrophic_rate`` (its gas table and decay rate; ``models.catastrophic``), or None when
    ``[catastrophic]`` is off.  ``energy_floor_GeV``: the low end of the gas table (as the engine's)."""
    c = _Catastrophic(cfg, energy_floor_GeV)
    if c.kind == CATASTROPHIC_NONE:
        return None
    r = np.ascontiguousarray(np.asarray(R_kpc, dtype=float).ravel())
    z = np.ascontiguousarray(np.asarray(z_kpc, dtype=float).ravel())

    def rate(kinetic_GeV: float):
        return _rates(c.kind, c.params, r, z, float(kinetic_GeV), c.mass)

    return rate


def momentum_diffusion_K(cfg, dpar_local, delta_change=0.0):
    """K = D_pp/p² [Myr⁻¹] for the local D∥ [kpc²/Myr] (f∥ included) and the local change of its
    rigidity index Δδ (two-halo): δ = reacceleration.turbulence_index, or diffusion.delta_par + Δδ
    (Seo & Ptuskin 1994 with ω = 1, as ``models.reacceleration.momentum_diffusion_rate``)."""
    va = alfven_speed_kpc_per_myr(cfg)
    ti = cfg.reacceleration.turbulence_index
    delta = ti if ti is not None else cfg.diffusion.delta_par + np.asarray(delta_change, dtype=float)
    delta = np.asarray(delta, dtype=float)
    if np.any(delta <= 0) or np.any(delta >= 2):
        raise ValueError("reacceleration: the index δ of D_pp must lie in (0, 2) (Seo & Ptuskin 1994)")
    return 4.0 * va * va / (3.0 * delta * (4.0 - delta * delta) * (4.0 - delta) * np.asarray(dpar_local))


def wind_of(cfg) -> tuple[float, float]:
    """(v0 [kpc/Myr], dv/dz [Myr⁻¹]) of ``[advection]``."""
    return wind_parameters(cfg)
