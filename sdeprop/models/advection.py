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


def has_wind(cfg) -> bool:
    """Whether the validated configuration ``cfg`` has a Galactic wind (v0 or dv/dz above zero)."""
    return cfg.advection.v0_km_s > 0.0 or cfg.advection.dvdz_km_s_per_kpc > 0.0


@njit(cache=True, error_model="numpy")
def reflected_wind_step(z0, z1, dzz, dt, u_min, u_side):
    """The end of a step across the plane under the wind u_z = sign(z) v0 (+ dv/dz z): (∫δ(Z) ds [Myr/kpc],
    new z1 [kpc], uniforms used).

    By Tanaka's formula |Z| is a Brownian motion (σ² = 2 D_zz) with the outward drift, reflected at 0, and
    its Skorokhod representation |Z_t| = X_t + L_t, L_t = max(0, −min_{s≤t} X_s), with X the free process
    (Karatzas & Shreve 1991, Brownian Motion and Stochastic Calculus, §3.6).  X's end point y1 = |z0| ±
    (z1 − z0) is the Euler step already taken (drift from the start point); the minimum of its Brownian
    bridge is drawn exactly, P(min < m) = exp(−2 (y0 − m)(y1 − m)/(σ² dt)) (Borodin & Salminen 2002,
    part II, 1.1.8), and when it is below 0 the end is y1 + L on a side chosen with probability ½ (each
    excursion from the plane is up or down with equal probability).  ∫δ(Z) ds = L/σ².  The Euler step,
    which keeps the start's drift through the plane, put 4 % too much time at the plane (measured at
    v0 = 30 km/s)."""
    y0 = abs(z0)
    sign = 1.0 if z0 >= 0.0 else -1.0
    y1 = y0 + sign * (z1 - z0)
    s2t = 2.0 * dzz * dt
    if y0 * y1 >= 20.0 * s2t or s2t <= 0.0:
        return 0.0, z1, 0  # P(touch) = exp(−2 y0 y1/(σ² dt)) < e^−40: the plane is out of reach
    d = y1 - y0
    low = 0.5 * (y0 + y1 - math.sqrt(d * d - 2.0 * s2t * math.log(max(u_min, 1e-300))))
    if low >= 0.0:
        return 0.0, z1, 1
    end = y1 - low
    return -low / (2.0 * dzz), end if u_side < 0.5 else -end, 2
