"""The halo's walls |z| = H and R = R_max: free escape with the Brownian-bridge test, or reflection.

Inlined into the particle loop (``particle_loop.py``).
"""

from __future__ import annotations

import math

from numba import njit

from .records import ALIVE, ESCAPED_R, ESCAPED_Z


@njit(cache=True, inline="always", error_model="numpy")
def bridge_probability(d0, d1, dn, dt):
    """Probability that a Brownian path with diffusion dn crossed a wall between two points
    at distances d0, d1 > 0 from it: exp(−2 d0 d1 / (2 dn dt)) (docs/design.md §2)."""
    a = d0 * d1 / (dn * dt)
    if a > 40.0:
        return 0.0
    return math.exp(-a)


@njit(cache=True, inline="always", error_model="numpy")
def reflect_end_point(H, rmax, dperp, ddiff, bx, by, bz, x1, y1, z1, r1):
    """End point reflected back into the halo along the conormal D n of the wall it crossed.

    The map y → y − 2 d D n/(n·D n) (d the distance outside) leaves the step's Gaussian N(0, 2D dt)
    invariant, so it is the discrete zero-flux condition n·D∇ψ = 0 (a plain mirror is that only
    where D's off-diagonal n-τ part is uniform along the wall).  After 8 reflections in one step
    (a drift far larger than the halo) the point is clamped onto the wall.  Returns (x, y, z, R).
    """
    for _ in range(8):
        if abs(z1) > H:
            sz = math.copysign(1.0, z1)
            dn = dperp + ddiff * bz * bz
            a = 2.0 * (abs(z1) - H) / dn
            x1 -= a * sz * ddiff * bz * bx
            y1 -= a * sz * ddiff * bz * by
            z1 -= a * sz * dn
            r1 = math.sqrt(x1 * x1 + y1 * y1)
        elif r1 > rmax:
            nx = x1 / r1
            ny = y1 / r1
            bn = bx * nx + by * ny
            dn = dperp + ddiff * bn * bn
            a = 2.0 * (r1 - rmax) / dn
            x1 -= a * (dperp * nx + ddiff * bn * bx)
            y1 -= a * (dperp * ny + ddiff * bn * by)
            z1 -= a * ddiff * bn * bz
            r1 = math.sqrt(x1 * x1 + y1 * y1)
        else:
            break
    if abs(z1) > H:
        z1 = math.copysign(H, z1)
    if r1 > rmax:
        x1 *= rmax / r1
        y1 *= rmax / r1
        r1 = rmax
    return x1, y1, z1, r1


@njit(cache=True, inline="always", error_model="numpy")
def bridge_escape(H, rmax, dpar, dperp, ddiff, bx, by, bz, x, y, z, r, z1, r1, dt, u0, u1, u2):
    """(status, uniforms used): whether a step that ended inside crossed a wall on the way (Brownian
    bridge, each wall with its normal diffusion D_n), ALIVE if not.  u0, u1, u2: the next three
    uniform variates, used in that order, one for each wall whose crossing probability is not zero.

    A cheap screen comes first: the crossing probability exp(−d0 d1/(D_n dt)) is negligible
    (< e^−40) when d0 d1 > 40 max(D∥, D⊥) dt, since every D_n <= max(D∥, D⊥).  Both z walls are
    tested (a long step may cross z = 0), then the outer cylinder.
    """
    status = ALIVE
    used = 0
    screen = 40.0 * max(dpar, dperp) * dt
    dzz = dperp + ddiff * bz * bz
    d0 = H - z
    d1 = H - z1
    if d0 * d1 < screen:
        p_cross = bridge_probability(d0, d1, dzz, dt)
        if p_cross > 0.0:
            if u0 < p_cross:
                status = ESCAPED_Z
            used = 1
    d0 = H + z
    d1 = H + z1
    if status == ALIVE and d0 * d1 < screen:
        p_cross = bridge_probability(d0, d1, dzz, dt)
        if p_cross > 0.0:
            if (u0 if used == 0 else u1) < p_cross:
                status = ESCAPED_Z
            used += 1
    d0 = rmax - r
    d1 = rmax - r1
    if status == ALIVE and r > 0.0 and d0 * d1 < screen:
        br = (bx * x + by * y) / r
        drr = dperp + ddiff * br * br
        p_cross = bridge_probability(d0, d1, drr, dt)
        if p_cross > 0.0:
            if (u0 if used == 0 else (u1 if used == 1 else u2)) < p_cross:
                status = ESCAPED_R
            used += 1
    return status, used
