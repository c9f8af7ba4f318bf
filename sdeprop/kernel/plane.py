"""The near-plane step: how a step ends near z = 0 in fields whose tensor jumps or has a cusp there.

Many Galactic field models make the tensor jump at the plane (X-fields, north/south haloes) or
give it a cusp (UF23's poloidal halo); there the Jacobian drift misses a surface or singular part
of ∇·D.  Steps near the plane end by :func:`plane_step` (sheared coordinates and skew Brownian
motion; docs/numerics.md "Fields whose direction jumps"); :func:`plane_step_wanted` decides which
steps need it and :func:`plane_end_point` prepares the regular part.
"""

from __future__ import annotations

import math

from numba import njit

from ..models.field import PLANE_CUSP, PLANE_JUMP, field_at

#: the two sides of the plane z = 0 are evaluated at ±this height [kpc]
PLANE_OFFSET_KPC = 1e-9


@njit(cache=True, inline="always", error_model="numpy")
def _vertical_shear(fkind, field_p, field_grid, floor2, dperp, ddiff, x, y, z):
    """(D_zz, D_xz/D_zz, D_yz/D_zz) of the field at (x, y, z)."""
    f = field_at(fkind, field_p, field_grid, x, y, z)
    g = ddiff / (f[0] * f[0] + f[1] * f[1] + f[2] * f[2] + floor2)
    dzz = dperp + g * f[2] * f[2]
    return dzz, g * f[0] * f[2] / dzz, g * f[1] * f[2] / dzz


@njit(cache=True, inline="always", error_model="numpy")
def _shear_integral(fkind, field_p, field_grid, floor2, dperp, ddiff, x, y, z_a, z_b):
    """∫ (D_xz/D_zz, D_yz/D_zz) dz from z_a to z_b at fixed (x, y), both ends on one side of the plane:
    two-point Gauss–Legendre (exact for the linear part; 1 % for a |z|^0.43 cusp on [0, z_b])."""
    h = 0.5 * (z_b - z_a)
    m = 0.5 * (z_a + z_b)
    d = h * 0.5773502691896258
    a = _vertical_shear(fkind, field_p, field_grid, floor2, dperp, ddiff, x, y, m - d)
    b = _vertical_shear(fkind, field_p, field_grid, floor2, dperp, ddiff, x, y, m + d)
    return h * (a[1] + b[1]), h * (a[2] + b[2])


@njit(cache=True, inline="always", error_model="numpy")
def skew_interface_end(a1, d_plus, d_minus, d_start, u):
    """End point (relative to an interface where the normal diffusion jumps from D⁻ below to D⁺ above)
    of a step whose path touched the interface, from its proposal a1 made with the start side's
    D_start and the uniform variate u.

    In s = a/√D the motion is skew Brownian motion (Lejay 2006, Probab. Surveys 3, 413, §5): the last
    excursion ends above with probability α = √D⁺/(√D⁺ + √D⁻), and its length scales by
    √(D_new/D_start).  The excursion is moved to the other side only as often as the skew needs
    (above kept with probability min(1, 2α), below with min(1, 2(1 − α))): for a driftless proposal
    (ends symmetric given a touch) that gives P(above) = α, and for α = ½ it keeps the proposal, with
    the drift's effect on the side.
    """
    sp = math.sqrt(d_plus)
    sm = math.sqrt(d_minus)
    if a1 >= 0.0:
        north = u * (sp + sm) < 2.0 * sp
    else:
        north = u * (sp + sm) >= 2.0 * sm
    if north:
        return abs(a1) * sp / math.sqrt(d_start)
    return -abs(a1) * sm / math.sqrt(d_start)


@njit(cache=True, error_model="numpy")  # not inlined: runs only on steps near the plane
def plane_step(fkind, field_p, field_grid, floor2, dperp, ddiff, x, y, z, xr, yr, z1, touched, u):
    """End point of a step near the plane z = 0 in a field whose tensor jumps or has a cusp there
    (docs/numerics.md "Fields whose direction jumps"; docs/design.md §2).

    Near the plane the tensor depends mostly on z: discontinuously where B_R or B_φ is odd in z
    (the X-fields of JF12 and Cerri et al. 2017, toroidal haloes with different northern and
    southern amplitudes), or with a singular derivative (UF23's poloidal B_R ∝ |z|^(p−1), p < 2).
    Write x = x' + g_x(z), y = y' + g_y(z) with g' = (D_xz, D_yz)/D_zz (g(0) = 0, continuous).
    In (x', y', z) the tensor has no xz, yz part, the flux condition at z = 0 is D_zz ∂_zψ
    continuous, and x', y' have no singular drift (Itô: dx = dx' + g' dz + g'' D_zz dt).  So:

    * (xr, yr) is the step's regular part: the Euler proposal minus g'(z) Δz and g''(z) D_zz dt
      at the start point (the caller's job);
    * the vertical end point z1 is kept, unless the path touched the plane (``touched``); then
      its last excursion ends north with probability α = √D⁺/(√D⁺ + √D⁻) and |z| is rescaled by
      √(D_zz(new)/D_zz(old)): in s = z/√D_zz the motion is skew Brownian motion (Lejay 2006,
      Probab. Surveys 3, 413, §5), the sign of each excursion independent.  The excursion is
      moved to the other side only as often as the skew needs (north kept with probability
      min(1, 2α), south with min(1, 2(1 − α))), so the Euler proposal's drift still acts on the side;
    * the end point is (xr, yr) + g(z_end) − g(z), g integrated along z at the step's lateral
      midpoint by two-point Gauss–Legendre on each side of the plane.

    For tensors uniform on each side this is exact (g piecewise linear, and Tanaka's formula
    gives the local-time drift [D_jz] dL); for a smooth field it agrees with the Euler step to
    the order of the scheme.  The sides are evaluated at z = ±PLANE_OFFSET_KPC.
    """
    xl = 0.5 * (x + xr)
    yl = 0.5 * (y + yr)
    z_end = z1
    if touched:
        dp = _vertical_shear(fkind, field_p, field_grid, floor2, dperp, ddiff, xl, yl, PLANE_OFFSET_KPC)[0]
        dm = _vertical_shear(fkind, field_p, field_grid, floor2, dperp, ddiff, xl, yl, -PLANE_OFFSET_KPC)[0]
        z_end = skew_interface_end(z1, dp, dm, dp if z >= 0.0 else dm, u)
    if (z >= 0.0) == (z_end >= 0.0):
        gx, gy = _shear_integral(fkind, field_p, field_grid, floor2, dperp, ddiff, xl, yl, z, z_end)
    else:
        off = PLANE_OFFSET_KPC if z >= 0.0 else -PLANE_OFFSET_KPC
        ax, ay = _shear_integral(fkind, field_p, field_grid, floor2, dperp, ddiff, xl, yl, z, off)
        bx, by = _shear_integral(fkind, field_p, field_grid, floor2, dperp, ddiff, xl, yl, -off, z_end)
        gx = ax + bx
        gy = ay + by
    return xr + gx, yr + gy, z_end


@njit(cache=True, inline="always", error_model="numpy")
def plane_step_wanted(plane_mode, dzz, z, z1, dt, u):
    """(near, touched, uniforms used): whether a step from z to the Euler end point z1 ends by the
    near-plane step, given D_zz and the next uniform variate u.

    Jump (PLANE_JUMP): the steps whose path touched the plane (certain if it changed side, else
    with the bridge probability exp(−z z1/(D_zz dt))); away from it the step equals the Euler step
    for a tensor uniform on each side.  Cusp (PLANE_CUSP): every step that starts within 4 vertical
    standard deviations of z = 0 (chosen by the start point only: choosing by the end point would
    bias the mean step), and the rare longer ones that changed side.
    """
    zz = z * z1
    touched = zz <= 0.0
    near = touched or (plane_mode == PLANE_CUSP and z * z < 32.0 * dzz * dt)
    used = 0
    if not touched and zz < 40.0 * dzz * dt and (near or plane_mode == PLANE_JUMP):
        touched = u < math.exp(-zz / (dzz * dt))
        used = 1
    return near, touched, used


@njit(cache=True, error_model="numpy")  # not inlined: runs only on steps near the plane
def plane_end_point(fkind, field_p, field_grid, floor2, dperp, ddiff, dzz, bx, by, bz, dzbx, dzby, dzbz,
                    x, y, z, x1, y1, z1, dt, touched, u):
    """End point of a step that :func:`plane_step_wanted` chose: the regular part of the Euler
    proposal (x1, y1) — minus g'(z) Δz and g''(z) D_zz dt of the start point, g' = D_jz/D_zz,
    g'' = (∂_z D_jz − g' ∂_z D_zz)/D_zz — is handed to :func:`plane_step`."""
    cx = ddiff * bx * bz / dzz
    cy = ddiff * by * bz / dzz
    dzz_z = 2.0 * ddiff * bz * dzbz
    cxz = (ddiff * (dzbx * bz + bx * dzbz) - cx * dzz_z) / dzz
    cyz = (ddiff * (dzby * bz + by * dzbz) - cy * dzz_z) / dzz
    xr = x1 - cx * (z1 - z) - cxz * dzz * dt
    yr = y1 - cy * (z1 - z) - cyz * dzz * dt
    return plane_step(fkind, field_p, field_grid, floor2, dperp, ddiff, x, y, z, xr, yr, z1, touched, u)
