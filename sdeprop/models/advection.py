"""The Galactic wind: u = sign(z) (v0 + (dv/dz) |z|) ẑ, perpendicular to the disc (the form of
GALPROP and DRAGON; Strong, Moskalenko & Ptuskin 2007, Annu. Rev. Nucl. Part. Sci. 57 285, §3.1).

It moves particles by u dt and cools them adiabatically, dp/dt = −(p/3) ∇·u with
∇·u = dv/dz + 2 v0 δ(z): the jump of u_z at the plane compresses, so a particle loses
Δ ln p = −(2 v0/3) ∫δ(z) dt each time it crosses.  The kernel samples that integral exactly for a
Brownian path between the step's end points (:func:`plane_occupation`, docs/transport.md).
"""

from __future__ import annotations

import math

from numba import njit

from ..units import speed_km_s_to_kpc_per_myr


def wind_parameters(cfg) -> tuple[float, float]:
    """(v0 [kpc/Myr], dv/dz [Myr⁻¹]) of ``[advection]``."""
    ac = cfg.advection
    return speed_km_s_to_kpc_per_myr(ac.v0_km_s), speed_km_s_to_kpc_per_myr(ac.dvdz_km_s_per_kpc)


@njit(cache=True, inline="always", error_model="numpy")
def wind_speed(v0, dvdz, z):
    """u_z [kpc/Myr] at height z [kpc]."""
    if z == 0.0:
        return 0.0
    return math.copysign(v0 + dvdz * abs(z), z)


@njit(cache=True, inline="always", error_model="numpy")
def plane_occupation(z0, z1, dzz, dt, u):
    """A draw of ∫δ(Z_s) ds [Myr/kpc] over a step of duration dt for a Brownian path (vertical diffusion
    D_zz) from z0 to z1, given the uniform variate u.

    The local time ℓ (in the units of z) of a Brownian bridge from a to b in time t with variance
    σ² t (σ² = 2 D_zz) has P(ℓ > l) = exp(−[(|a| + |b| + l)² − (b − a)²]/(2 σ² t)) (Borodin & Salminen
    2002, Handbook of Brownian Motion, part II, formula 1.3.8 for the bridge), and ∫δ(Z) ds = ℓ/σ².
    Inverting at u gives ℓ = sqrt((b − a)² − 2 σ² t ln u) − |a| − |b| when positive, else 0.
    """
    s2t = 2.0 * dzz * dt
    if s2t <= 0.0:
        return 0.0
    d = z1 - z0
    ell = math.sqrt(d * d - 2.0 * s2t * math.log(max(u, 1e-300))) - abs(z0) - abs(z1)
    if ell <= 0.0:
        return 0.0
    return ell / (2.0 * dzz)
