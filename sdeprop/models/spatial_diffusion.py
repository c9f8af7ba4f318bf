"""Diffusion coefficients that vary in space: multipliers of D∥ and D⊥ and their gradients.

The rigidity law of :mod:`.diffusion` gives D∥(R) and D⊥(R); a spatial model multiplies them,

    D∥(x, R) = D∥(R) f∥(x, R),   D⊥(x, R) = D⊥(R) f⊥(x, R),

and the kernel needs ln f∥, ln f⊥ and their gradients at every step (the drift ∇·D and the step
control; docs/transport.md).  Models (integer tags):

* ``SPATIAL_UNIFORM``: f = 1.
* ``SPATIAL_TWO_HALO``: the two-halo model, D = β D0 (R/R0)^δ(z) with δ(z) = δ0 + Δ (|z|/ξL)^n for
  |z| < ξL and δ0 + Δ outside (the two-halo idea of Tomassetti 2012, ApJL 752 L13; the smooth
  form and its parameters, D0 = 5.5e28 cm²/s, δ0 = 0.19, Δ = 0.39, n = 5, ξL ≈ 0.8 kpc, from the
  DRAGON study of proton hardening and the primary-electron excess).  With δ0 = delta_par,
  f∥ = f⊥ = (R/R0)^(δ(z) − δ0).  `sharp` makes D jump
  at |z| = ξL: f is then piecewise constant and the kernel's interface step treats the jump.
* ``SPATIAL_TURBULENCE``: f∥, f⊥ functions of the turbulence level η = δB/B and of R, tabulated on
  a (ln R, ln η) grid by :mod:`.turbulent_diffusion`; δB from ``[turbulence]`` (a trilinear table of
  δB²), B = sqrt(|B_reg|² + B_f²) from the regular field with the kernel's floor B_f.
* ``SPATIAL_GRID``: ln f∥ and ln f⊥ on a Cartesian grid from an HDF5 file, either at several
  rigidities (linear in ln R between them, constant beyond) or at one reference rigidity R_ref with
  per-node index changes s (ln f = a + s ln(R/R_ref)); trilinear in space, constant beyond the
  grid's faces (so D never jumps at them).  :func:`write_diffusion_grid` writes such a file,
  :func:`grid_from_function` samples any Python (or numba) function f(x, y, z, R) onto one.

Every kind is reduced by :func:`rigidity_selection` to (node j, offset dl) once per energy state and
evaluated by :func:`spatial_factors` at every step.
"""

from __future__ import annotations

import math
import os
import tempfile

import h5py
import numpy as np
from numba import njit

from .diffusion import SPECIES, diffusion_at, kinetic_from_rigidity
from .field import field_and_jacobian

SPATIAL_UNIFORM = 0
SPATIAL_TWO_HALO = 1
SPATIAL_TURBULENCE = 2
SPATIAL_GRID = 3
SPATIAL_KINDS = {
    "uniform": SPATIAL_UNIFORM,
    "two_halo": SPATIAL_TWO_HALO,
    "turbulence": SPATIAL_TURBULENCE,
    "grid": SPATIAL_GRID,
}

# two_halo parameters
TH_DELTA, TH_N, TH_HALF, TH_SHARP, TH_LN_R0 = range(5)
# turbulence parameters
(
    T_NR,
    T_LNR0,
    T_INV_DLNR,
    T_NETA,
    T_LNETA0,
    T_INV_DLNETA,
    T_OFF_TABLE,
    T_DB2_CONST,
    T_G_NXY,
    T_G_NZ,
    T_G_INV,
    T_G_X0,
    T_G_Z0,
    T_OFF_GRID,
    T_LN_R0,
) = range(15)
N_TURB_HEADER = 15
# grid parameters
(
    G_NX,
    G_NY,
    G_NZ,
    G_X0,
    G_Y0,
    G_Z0,
    G_INV_DX,
    G_INV_DY,
    G_INV_DZ,
    G_NR,
    G_LNR0,
    G_INV_DLNR,
    G_LNR_REF,
    G_OFF,
    G_NLEV,
    G_OFF_LEV,
) = range(16)
N_GRID_HEADER = 16
#: bound channels per pyramid cell: max |∂_k ln f| of the factors (x, y, z), then of their index changes
GRID_BOUND_CHANNELS = 6
#: channels per grid node: ln f∥, ln f⊥ at the rigidity node and their slopes d ln f/d ln R
GRID_CHANNELS = 4


# --------------------------------------------------------------------------- kernel functions
@njit(cache=True, inline="always", error_model="numpy")
def _axis(value, lo, inv, n):
    """(index i, weight t, inside) of ``value`` on a uniform axis of n nodes, clamped to the ends."""
    a = (value - lo) * inv
    if a <= 0.0:
        return 0, 0.0, False
    if a >= n - 1:
        return n - 2, 1.0, False
    i = int(a)
    return i, a - i, True


@njit(cache=True, error_model="numpy")
def rigidity_selection(kind, sp, ln_rigidity):
    """(node j, offset dl) of the rigidity ln R [ln GV] for :func:`spatial_factors`, once per energy state.

    two_halo: dl = ln(R/R0).  turbulence: j the ln R cell, dl its weight.  grid: j the rigidity node at
    or below ln R (clamped), dl = ln R − ln R_j (with one node: ln R − ln R_ref); ln f = a_j + s_j dl.
    """
    if kind == SPATIAL_TWO_HALO:
        return 0, ln_rigidity - sp[TH_LN_R0]
    if kind == SPATIAL_TURBULENCE:
        j, w, _ = _axis(ln_rigidity, sp[T_LNR0], sp[T_INV_DLNR], int(sp[T_NR]))
        return j, w
    if kind == SPATIAL_GRID:
        nr = int(sp[G_NR])
        if nr == 1:
            return 0, ln_rigidity - sp[G_LNR_REF]
        a = (ln_rigidity - sp[G_LNR0]) * sp[G_INV_DLNR]
        j = min(max(int(math.floor(a)), 0), nr - 1)
        dl = ln_rigidity - (sp[G_LNR0] + j / sp[G_INV_DLNR])
        if a < 0.0:
            dl = 0.0  # below the first node: constant
        return j, dl
    return 0, 0.0


@njit(cache=True, inline="always", error_model="numpy")
def _tri_grad(sp, o, sx, sy, sz, tx, ty, tz):
    """Trilinear value and its derivatives (per unit index) of the channel whose cell corner (0, 0, 0)
    is at flat offset o, strides sx, sy, sz."""
    c000 = sp[o]
    c001 = sp[o + sz]
    c010 = sp[o + sy]
    c011 = sp[o + sy + sz]
    c100 = sp[o + sx]
    c101 = sp[o + sx + sz]
    c110 = sp[o + sx + sy]
    c111 = sp[o + sx + sy + sz]
    c00 = c000 + tz * (c001 - c000)
    c01 = c010 + tz * (c011 - c010)
    c10 = c100 + tz * (c101 - c100)
    c11 = c110 + tz * (c111 - c110)
    c0 = c00 + ty * (c01 - c00)
    c1 = c10 + ty * (c11 - c10)
    v = c0 + tx * (c1 - c0)
    dx = c1 - c0
    dy = (1.0 - tx) * (c01 - c00) + tx * (c11 - c10)
    dz = (1.0 - tx) * ((1.0 - ty) * (c001 - c000) + ty * (c011 - c010)) + tx * (
        (1.0 - ty) * (c101 - c100) + ty * (c111 - c110)
    )
    return v, dx, dy, dz


@njit(cache=True, error_model="numpy")
def spatial_factors(kind, sp, j, dl, x, y, z, f, floor2):
    """(ln f∥, ln f⊥, ∇ ln f∥ (3), ∇ ln f⊥ (3), Δδ) at (x, y, z) [kpc] for the rigidity selected by
    :func:`rigidity_selection`; ``f`` the field and its Jacobian there (``field_and_jacobian``; used by
    the turbulence model), ``floor2`` = B_f² [μG²].  Δδ is the local change of D∥'s rigidity index
    (d ln f∥/d ln R; used by reacceleration).  Gradients in kpc⁻¹."""
    if kind == SPATIAL_TWO_HALO:
        h = sp[TH_HALF]
        az = abs(z)
        delta = sp[TH_DELTA]
        if az >= h:
            a = delta * dl
            return a, a, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, delta
        if sp[TH_SHARP] > 0.5:
            return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
        n = sp[TH_N]
        u = (az / h) ** n
        a = delta * u * dl
        gz = 0.0
        if az > 0.0:
            gz = math.copysign(delta * n * u / az * dl, z)
        return a, a, 0.0, 0.0, gz, 0.0, 0.0, gz, delta * u
    if kind == SPATIAL_TURBULENCE:
        # δB² and its gradient
        if sp[T_DB2_CONST] >= 0.0:
            db2 = sp[T_DB2_CONST]
            gdx = gdy = gdz = 0.0
        else:
            n = int(sp[T_G_NXY])
            nz = int(sp[T_G_NZ])
            inv = sp[T_G_INV]
            ix, tx, _ = _axis(x, sp[T_G_X0], inv, n)
            iy, ty, _ = _axis(y, sp[T_G_X0], inv, n)
            iz, tz, _ = _axis(z, sp[T_G_Z0], inv, nz)
            o = int(sp[T_OFF_GRID]) + (ix * n + iy) * nz + iz
            db2, gdx, gdy, gdz = _tri_grad(sp, o, n * nz, nz, 1, tx, ty, tz)
            gdx *= inv
            gdy *= inv
            gdz *= inv
        m2 = f[0] * f[0] + f[1] * f[1] + f[2] * f[2] + floor2
        # ln η = (ln δB² − ln M²)/2, ∇ ln M² = 2 J B / M²
        lx = ly = lz = 0.0
        if db2 > 0.0:
            ln_eta = 0.5 * (math.log(db2) - math.log(m2))
            lx = 0.5 * gdx / db2 - (f[3] * f[0] + f[4] * f[1] + f[5] * f[2]) / m2
            ly = 0.5 * gdy / db2 - (f[6] * f[0] + f[7] * f[1] + f[8] * f[2]) / m2
            lz = 0.5 * gdz / db2 - (f[9] * f[0] + f[10] * f[1] + f[11] * f[2]) / m2
        else:
            ln_eta = -math.inf
        ne = int(sp[T_NETA])
        ie, te, inside = _axis(ln_eta, sp[T_LNETA0], sp[T_INV_DLNETA], ne)
        if not inside:
            lx = ly = lz = 0.0
        o = int(sp[T_OFF_TABLE]) + (j * ne + ie) * 2
        row = ne * 2
        w = dl
        # bilinear in (ln R, ln η); slope in ln η
        a00, b00 = sp[o], sp[o + 1]
        a01, b01 = sp[o + 2], sp[o + 3]
        a10, b10 = sp[o + row], sp[o + row + 1]
        a11, b11 = sp[o + row + 2], sp[o + row + 3]
        a0 = a00 + w * (a10 - a00)
        a1 = a01 + w * (a11 - a01)
        b0 = b00 + w * (b10 - b00)
        b1 = b01 + w * (b11 - b01)
        inv_de = sp[T_INV_DLNETA]
        sa = (a1 - a0) * inv_de
        sb = (b1 - b0) * inv_de
        return (
            a0 + te * (a1 - a0),
            b0 + te * (b1 - b0),
            sa * lx,
            sa * ly,
            sa * lz,
            sb * lx,
            sb * ly,
            sb * lz,
            0.0,
        )
    if kind == SPATIAL_GRID:
        nx = int(sp[G_NX])
        ny = int(sp[G_NY])
        nz = int(sp[G_NZ])
        ix, tx, inx = _axis(x, sp[G_X0], sp[G_INV_DX], nx)
        iy, ty, iny = _axis(y, sp[G_Y0], sp[G_INV_DY], ny)
        iz, tz, inz = _axis(z, sp[G_Z0], sp[G_INV_DZ], nz)
        sz = GRID_CHANNELS
        sy = nz * sz
        sx = ny * sy
        o = int(sp[G_OFF]) + j * nx * sx + ix * sx + iy * sy + iz * sz
        a, ax, ay, az = _tri_grad(sp, o, sx, sy, sz, tx, ty, tz)
        b, bx, by, bz = _tri_grad(sp, o + 1, sx, sy, sz, tx, ty, tz)
        s, smx, smy, smz = _tri_grad(sp, o + 2, sx, sy, sz, tx, ty, tz)
        q, qx, qy, qz = _tri_grad(sp, o + 3, sx, sy, sz, tx, ty, tz)
        gx = sp[G_INV_DX] if inx else 0.0
        gy = sp[G_INV_DY] if iny else 0.0
        gz = sp[G_INV_DZ] if inz else 0.0
        return (
            a + s * dl,
            b + q * dl,
            (ax + smx * dl) * gx,
            (ay + smy * dl) * gy,
            (az + smz * dl) * gz,
            (bx + qx * dl) * gx,
            (by + qy * dl) * gy,
            (bz + qz * dl) * gz,
            s,
        )
    return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0


#: a step's vertical reach, in standard deviations sqrt(2 D_zz dt), over which the two-halo step bound looks
#: for the steepest ln D (docs/transport.md "The drift and the step")
REACH_SIGMAS = 6.0
#: bisection halvings of ln dt when the bound is solved for the largest admissible step
REACH_BISECTIONS = 6
#: how far the bound may grow from one step to the next before a bisection (GUESS_GROWTH per step)
GUESS_GROWTH = 1.25


@njit(cache=True, inline="always", error_model="numpy")
def _two_halo_window(sp, dl, az, reach):
    """max over |z'| ∈ [|z| − reach, |z| + reach] of |∂_z ln D|², times the largest ratio of D in that
    window to D at |z| (smooth two-halo model; |∂_z ln D| = δ n u/|z| |ln(R/R0)| grows with |z| inside ξL
    and vanishes outside)."""
    h = sp[TH_HALF]
    if az - reach >= h:
        return 0.0
    n = sp[TH_N]
    adl = sp[TH_DELTA] * abs(dl)
    z_hi = min(az + reach, h)
    u_hi = (z_hi / h) ** n
    u_lo = (max(az - reach, 0.0) / h) ** n
    g = adl * n * u_hi / z_hi if z_hi > 0.0 else 0.0
    return g * g * math.exp(adl * (u_hi - u_lo))


@njit(cache=True, inline="always", error_model="numpy")
def _grid_window(sp, dl, x, y, z, bx, by, bz, dpar, dperp, reach):
    """2 (D⊥ |g|² + (D∥ − D⊥)(|b|·g)²) with g_k a bound of |∂_k ln f| (both factors) over every point within
    ``reach`` [kpc] of (x, y, z): from the max pyramid of the multiplier grid, at the coarsest level whose
    cells are at least ``reach`` wide (each cell there holds the max over itself and its neighbours)."""
    cells = reach * max(sp[G_INV_DX], sp[G_INV_DY], sp[G_INV_DZ])
    nlev = int(sp[G_NLEV])
    lev = 0
    width = 1.0
    while width < cells and lev < nlev - 1:
        lev += 1
        width *= 2.0
    o = int(sp[G_OFF_LEV]) + 4 * lev
    nx, ny, nz, off = int(sp[o]), int(sp[o + 1]), int(sp[o + 2]), int(sp[o + 3])
    ix = min(max(int((x - sp[G_X0]) * sp[G_INV_DX] / width), 0), nx - 1)
    iy = min(max(int((y - sp[G_Y0]) * sp[G_INV_DY] / width), 0), ny - 1)
    iz = min(max(int((z - sp[G_Z0]) * sp[G_INV_DZ] / width), 0), nz - 1)
    c = off + ((ix * ny + iy) * nz + iz) * GRID_BOUND_CHANNELS
    adl = abs(dl)
    gx = sp[c] + adl * sp[c + 3]
    gy = sp[c + 1] + adl * sp[c + 4]
    gz = sp[c + 2] + adl * sp[c + 5]
    gb = abs(bx) * gx + abs(by) * gy + abs(bz) * gz
    return 2.0 * (dperp * (gx * gx + gy * gy + gz * gz) + (dpar - dperp) * gb * gb)


@njit(cache=True, inline="always", error_model="numpy")
def _window_rate(kind, sp, dl, x, y, z, bx, by, bz, dpar, dperp, dzz, dt):
    """Bound of 2 gᵀ D g of ln D over the points a step of dt [Myr] can reach (REACH_SIGMAS standard
    deviations: vertical for two_halo, parallel for grid)."""
    if kind == SPATIAL_TWO_HALO:
        return 2.0 * dzz * _two_halo_window(sp, dl, abs(z), REACH_SIGMAS * math.sqrt(2.0 * dzz * dt))
    return _grid_window(sp, dl, x, y, z, bx, by, bz, dpar, dperp, REACH_SIGMAS * math.sqrt(2.0 * dpar * dt))


@njit(cache=True, error_model="numpy")
def spatial_step_bound(kind, sp, dl, x, y, z, bx, by, bz, dpar, dperp, dt, step_frac2, guess):
    """The largest step ≤ dt [Myr] over which ln D∥ and ln D⊥ change by at most step_fraction anywhere the
    particle can reach: 2 dt gᵀ D g ≤ step_fraction² with g bounded over a window of REACH_SIGMAS standard
    deviations around the start point (smooth two_halo: analytic; grid: the max pyramid).  The bound depends
    only on the start point, so the step stays adapted: a step shortened after seeing its end point
    (refinement) biases the density where ln D is steep, and a bound from the start point's gradient alone
    lets steps from a flat region land deep in a steep one (both measured, docs/transport.md).  The window
    makes the rate non-decreasing in dt, so the largest admissible dt is found by bisection in ln dt
    between the bound of the full window (admissible) and dt.  D [kpc²/Myr], b the unit field direction.
    ``guess`` [Myr] (0: none), the previous step's bound, starts the search: the bound changes little from
    one step to the next, so 1.25 × guess or guess/1.25 is usually admissible and saves the bisection."""
    dzz = dperp + (dpar - dperp) * bz * bz
    trial = dt if guess <= 0.0 else min(dt, GUESS_GROWTH * guess)
    rate = _window_rate(kind, sp, dl, x, y, z, bx, by, bz, dpar, dperp, dzz, trial)
    if rate * trial <= step_frac2:
        return trial
    lower = trial / (GUESS_GROWTH * GUESS_GROWTH)
    if (
        guess > 0.0
        and lower * _window_rate(kind, sp, dl, x, y, z, bx, by, bz, dpar, dperp, dzz, lower) <= step_frac2
    ):
        return lower
    lo = step_frac2 / rate  # admissible: its window lies inside the trial's, whose bound fails
    hi = trial
    for _ in range(REACH_BISECTIONS):
        mid = math.sqrt(lo * hi)
        if mid * _window_rate(kind, sp, dl, x, y, z, bx, by, bz, dpar, dperp, dzz, mid) <= step_frac2:
            lo = mid
        else:
            hi = mid
    return lo


# --------------------------------------------------------------------------- building the parameters
def build_spatial_diffusion(cfg) -> tuple[int, np.ndarray]:
    """(kind, params) of ``cfg.diffusion.spatial`` for the kernel (``cfg`` a validated configuration)."""
    dc = cfg.diffusion
    kind = SPATIAL_KINDS[dc.spatial]
    ln_r0 = math.log(dc.reference_rigidity_GV)
    if kind == SPATIAL_UNIFORM:
        return kind, np.zeros(1)
    if kind == SPATIAL_TWO_HALO:
        th = dc.two_halo
        sharp = th.sharp
        return kind, np.array(
            [
                th.delta_change,
                0.0 if sharp else th.transition_index,
                th.inner_half_thickness_kpc,
                float(sharp),
                ln_r0,
            ]
        )
    if kind == SPATIAL_TURBULENCE:
        return kind, _pack_turbulence(cfg, ln_r0)
    data = load_diffusion_grid(dc.grid.file)
    return kind, _pack_grid(data)


#: nodes per decade of the turbulence model's (R, η) table
TURBULENCE_TABLE_PER_DECADE = 16


def _pack_turbulence(cfg, ln_r0):
    from .losses import turbulence_grid
    from .turbulent_diffusion import TURBULENCE_DIFFUSION_MODELS, turbulence_factor_table

    tc = cfg.diffusion.turbulence
    mass, charge = SPECIES[cfg.species.name]
    # rigidities from the lowest energy a particle reaches to the highest injected
    e_lo = min(cfg.energy.min_GeV, cfg.losses.energy_floor_GeV or cfg.energy.min_GeV) / 10.0
    r_lo = math.sqrt(e_lo * (e_lo + 2 * mass)) / abs(charge)
    e_hi = cfg.energy.max_GeV * 10.0
    r_hi = math.sqrt(e_hi * (e_hi + 2 * mass)) / abs(charge)
    n_r = max(2, int(math.ceil(math.log10(r_hi / r_lo) * TURBULENCE_TABLE_PER_DECADE)) + 1)
    ln_r = np.linspace(math.log(r_lo), math.log(r_hi), n_r)
    n_e = max(2, int(math.ceil(math.log10(tc.eta_max / tc.eta_min) * TURBULENCE_TABLE_PER_DECADE)) + 1)
    ln_eta = np.linspace(math.log(tc.eta_min), math.log(tc.eta_max), n_e)
    options = dict(tc.options)
    known = TURBULENCE_DIFFUSION_MODELS[tc.model]
    # a model that needs the rigidity law (its mean free path) takes it from [diffusion] unless given
    for key, value in (
        ("D0_cm2_per_s", cfg.diffusion.D0_cm2_per_s),
        ("reference_rigidity_GV", cfg.diffusion.reference_rigidity_GV),
        ("delta_par", cfg.diffusion.delta_par),
    ):
        if key in known and key not in options:
            options[key] = value
    lnf_par, lnf_perp = turbulence_factor_table(tc.model, tc.reference_eta, ln_r, ln_eta, **options)
    # D⊥ never exceeds D∥: the quasi-linear scalings, extrapolated to η ≳ 1, would make D⊥ ≫ D∥ (10¹² in
    # UF23 with the JF12 random field), where scattering has made the transport isotropic; the table is
    # capped at D⊥ = D∥ (docs/transport.md)
    energy = kinetic_from_rigidity(np.exp(ln_r), mass, charge)
    d_par, d_perp = diffusion_at(cfg.diffusion, cfg.species.name, energy)
    with np.errstate(divide="ignore"):
        ln_ratio = np.log(np.asarray(d_par) / np.asarray(d_perp))
    lnf_perp = np.minimum(lnf_perp, lnf_par + ln_ratio[:, None])
    table = np.stack([lnf_par, lnf_perp], axis=-1)
    if not np.all(np.isfinite(table)):
        raise ValueError(
            f"diffusion.turbulence model '{tc.model}' gives non-finite factors; check its options"
        )
    head = np.zeros(N_TURB_HEADER)
    head[T_NR], head[T_LNR0], head[T_INV_DLNR] = n_r, ln_r[0], (n_r - 1) / (ln_r[-1] - ln_r[0])
    head[T_NETA], head[T_LNETA0], head[T_INV_DLNETA] = n_e, ln_eta[0], (n_e - 1) / (ln_eta[-1] - ln_eta[0])
    head[T_LN_R0] = ln_r0
    head[T_OFF_TABLE] = N_TURB_HEADER
    blocks = [head, table.ravel()]
    turb = cfg.turbulence
    if turb.model == "none":
        head[T_DB2_CONST] = 0.0
    elif turb.model == "constant":
        head[T_DB2_CONST] = (turb.scale * turb.rms_uG) ** 2
    else:
        head[T_DB2_CONST] = -1.0
        R, H = cfg.galaxy.radius_max_kpc, cfg.galaxy.halo_height_kpc
        grid = turbulence_grid(turb, R, H, cfg.losses.table_turbulence_spacing_kpc)
        n, nz = grid.shape[0], grid.shape[2]
        head[T_G_NXY], head[T_G_NZ], head[T_G_INV], head[T_G_X0], head[T_G_Z0] = (
            n,
            nz,
            (n - 1) / (2 * R),
            -R,
            -H,
        )
        head[T_OFF_GRID] = N_TURB_HEADER + table.size
        blocks.append(grid.ravel())
    return np.concatenate(blocks)


# --------------------------------------------------------------------------- the grid file
GRID_DATASETS = ("x_kpc", "y_kpc", "z_kpc", "ln_parallel_factor", "ln_perpendicular_factor")


def write_diffusion_grid(
    path,
    x_kpc,
    y_kpc,
    z_kpc,
    ln_parallel_factor,
    ln_perpendicular_factor,
    *,
    rigidity_GV=None,
    parallel_index_change=None,
    perpendicular_index_change=None,
    reference_rigidity_GV=None,
):
    """Write a diffusion-multiplier grid (atomically: a temporary file renamed into place).

    ``ln_*_factor``: ln f on the nodes, shape (nx, ny, nz), or (n_R, nx, ny, nz) with ``rigidity_GV``
    (n_R increasing rigidities [GV]); or shape (nx, ny, nz) at ``reference_rigidity_GV`` with
    ``*_index_change`` (nx, ny, nz): ln f(R) = ln f + s ln(R/R_ref).  Axes uniform and increasing [kpc].
    """
    data = {
        "x_kpc": x_kpc,
        "y_kpc": y_kpc,
        "z_kpc": z_kpc,
        "ln_parallel_factor": ln_parallel_factor,
        "ln_perpendicular_factor": ln_perpendicular_factor,
    }
    if rigidity_GV is not None:
        data["rigidity_GV"] = rigidity_GV
    if parallel_index_change is not None or perpendicular_index_change is not None:
        data["parallel_index_change"] = (
            parallel_index_change
            if parallel_index_change is not None
            else np.zeros_like(np.asarray(ln_parallel_factor))
        )
        data["perpendicular_index_change"] = (
            perpendicular_index_change
            if perpendicular_index_change is not None
            else np.zeros_like(np.asarray(ln_perpendicular_factor))
        )
        data["reference_rigidity_GV"] = np.array(reference_rigidity_GV if reference_rigidity_GV else 1.0)
    data = {k: np.asarray(v, dtype=float) for k, v in data.items()}
    _validate_grid(data, str(path))
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(suffix=".h5.part", dir=directory)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as fh:
            for k, v in data.items():
                fh.create_dataset(k, data=v)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_diffusion_grid(path) -> dict[str, np.ndarray]:
    """The datasets of a diffusion-multiplier grid file, checked (ValueError naming what is wrong)."""
    path = str(path)
    if not os.path.isfile(path):
        raise ValueError(f"diffusion grid file '{path}' does not exist")
    try:
        with h5py.File(path, "r") as fh:
            missing = [k for k in GRID_DATASETS if k not in fh]
            if missing:
                raise ValueError(f"diffusion grid file '{path}' lacks the datasets {missing}")
            data = {k: np.asarray(fh[k][()], dtype=float) for k in fh.keys()}
    except OSError as exc:
        raise ValueError(f"diffusion grid file '{path}' is not a readable HDF5 file ({exc})") from None
    _validate_grid(data, path)
    return data


def _uniform_axis(a, name, path):
    if a.ndim != 1 or a.size < 2:
        raise ValueError(f"{path}: {name} must be a 1-D axis with at least 2 nodes")
    d = np.diff(a)
    if np.any(d <= 0) or not np.allclose(d, d[0], rtol=1e-6, atol=0):
        raise ValueError(f"{path}: {name} must be uniform and increasing")


def _validate_grid(data, path):
    for name in ("x_kpc", "y_kpc", "z_kpc"):
        _uniform_axis(data[name], name, path)
    shape = (data["x_kpc"].size, data["y_kpc"].size, data["z_kpc"].size)
    with_axis = "rigidity_GV" in data
    with_index = "parallel_index_change" in data
    if with_axis and with_index:
        raise ValueError(f"{path}: give either rigidity_GV or per-node index changes, not both")
    want = ((data["rigidity_GV"].size,) + shape) if with_axis else shape
    for name in ("ln_parallel_factor", "ln_perpendicular_factor") + (
        ("parallel_index_change", "perpendicular_index_change") if with_index else ()
    ):
        if data[name].shape != want:
            raise ValueError(f"{path}: {name} has shape {data[name].shape}, expected {want}")
        if not np.all(np.isfinite(data[name])):
            raise ValueError(f"{path}: {name} has non-finite values")
    if with_axis:
        r = data["rigidity_GV"]
        if np.any(r <= 0):
            raise ValueError(f"{path}: rigidity_GV must be positive")
        if r.size > 1:
            _uniform_axis(np.log(r), "ln(rigidity_GV)", path)
    if with_index and not float(data["reference_rigidity_GV"]) > 0:
        raise ValueError(f"{path}: reference_rigidity_GV must be positive")


def _pack_grid(data):
    x, y, z = data["x_kpc"], data["y_kpc"], data["z_kpc"]
    nx, ny, nz = x.size, y.size, z.size
    a = data["ln_parallel_factor"]
    b = data["ln_perpendicular_factor"]
    head = np.zeros(N_GRID_HEADER)
    if "rigidity_GV" in data:
        ln_r = np.log(data["rigidity_GV"])
        nr = ln_r.size
        s = np.zeros_like(a)
        q = np.zeros_like(b)
        if nr > 1:
            step = ln_r[1] - ln_r[0]
            s[:-1] = np.diff(a, axis=0) / step  # node j carries the slope towards node j + 1
            q[:-1] = np.diff(b, axis=0) / step
            head[G_INV_DLNR] = 1.0 / step
        head[G_LNR0] = head[G_LNR_REF] = ln_r[0]
    else:
        nr = 1
        a, b = a[None], b[None]
        s = data.get("parallel_index_change", np.zeros_like(a[0]))[None]
        q = data.get("perpendicular_index_change", np.zeros_like(b[0]))[None]
        head[G_LNR_REF] = math.log(float(data.get("reference_rigidity_GV", 1.0)))
    head[G_NX], head[G_NY], head[G_NZ] = nx, ny, nz
    head[G_X0], head[G_Y0], head[G_Z0] = x[0], y[0], z[0]
    head[G_INV_DX] = (nx - 1) / (x[-1] - x[0])
    head[G_INV_DY] = (ny - 1) / (y[-1] - y[0])
    head[G_INV_DZ] = (nz - 1) / (z[-1] - z[0])
    head[G_NR] = nr
    head[G_OFF] = N_GRID_HEADER
    body = np.stack([a, b, s, q], axis=-1)  # (nr, nx, ny, nz, 4)
    levels = _gradient_pyramid(body, head[G_INV_DX], head[G_INV_DY], head[G_INV_DZ])
    head[G_NLEV] = len(levels)
    head[G_OFF_LEV] = N_GRID_HEADER + body.size
    table = np.zeros(4 * len(levels))
    offset = head[G_OFF_LEV] + table.size
    for k, lev in enumerate(levels):
        table[4 * k : 4 * k + 3] = lev.shape[:3]
        table[4 * k + 3] = offset
        offset += lev.size
    return np.concatenate([head, body.ravel(), table] + [lev.ravel() for lev in levels])


def _gradient_pyramid(body, inv_dx, inv_dy, inv_dz):
    """Max pyramid of the bounds of |∂_k ln f| for :func:`spatial_step_bound`: a list of arrays
    (n_x, n_y, n_z, 6), level ℓ with cells 2^ℓ grid cells wide, each holding the max over all rigidity nodes
    of the largest |∂_k| of ln f∥ and ln f⊥ (channels 0–2) and of their index changes (3–5) in itself and
    its neighbours; the trilinear derivative's extremes lie on the cell's edges, so the bound is exact."""
    from scipy.ndimage import maximum_filter

    def edge_max(v, axis, inv):
        d = np.abs(np.diff(v, axis=axis)) * inv  # (…) one shorter along axis: per edge
        # a cell's derivative along axis is bounded by its edges': max over the other two corner indices
        for other in {1, 2, 3} - {axis}:
            d = (
                np.maximum(
                    d[(slice(None),) * other + (slice(0, -1),)], d[(slice(None),) * other + (slice(1, None),)]
                )
                if d.shape[other] > 1
                else d
            )
        return d

    nx, ny, nz = body.shape[1:4]
    cells = (max(nx - 1, 1), max(ny - 1, 1), max(nz - 1, 1))
    base = np.zeros(cells + (GRID_BOUND_CHANNELS,))
    for k, (axis, inv) in enumerate(((1, inv_dx), (2, inv_dy), (3, inv_dz))):
        for ch, slot in ((0, k), (1, k), (2, k + 3), (3, k + 3)):
            e = edge_max(body[..., ch], axis, inv).max(axis=0)  # max over rigidity nodes
            e = e[: cells[0], : cells[1], : cells[2]]
            base[..., slot] = np.maximum(base[..., slot], np.broadcast_to(e, cells))
    levels = []
    cur = base
    while True:
        levels.append(maximum_filter(cur, size=(3, 3, 3, 1), mode="nearest"))
        if max(cur.shape[:3]) == 1:
            return levels
        pad = [(0, n % 2) for n in cur.shape[:3]] + [(0, 0)]
        p = np.pad(cur, pad, mode="edge")
        a, b, c = (n // 2 for n in p.shape[:3])
        cur = p.reshape(a, 2, b, 2, c, 2, GRID_BOUND_CHANNELS).max(axis=(1, 3, 5))


def grid_from_function(path, function, x_kpc, y_kpc, z_kpc, rigidity_GV):
    """Sample ``function(x, y, z, rigidity_GV) -> (f∥, f⊥)`` (any Python or numba function, scalars in,
    two positive multipliers out) on the nodes and write it with :func:`write_diffusion_grid`.

    The kernel then interpolates the samples (trilinear in space, linear in ln R): the function is
    represented to the accuracy of the grid, which the caller chooses."""
    x_kpc, y_kpc, z_kpc, rig = (np.asarray(v, dtype=float) for v in (x_kpc, y_kpc, z_kpc, rigidity_GV))
    shape = (rig.size, x_kpc.size, y_kpc.size, z_kpc.size)
    a = np.empty(shape)
    b = np.empty(shape)
    for m, r in enumerate(rig):
        for i, xv in enumerate(x_kpc):
            for j, yv in enumerate(y_kpc):
                for k, zv in enumerate(z_kpc):
                    fp, fq = function(xv, yv, zv, r)
                    if not (fp > 0 and fq > 0 and math.isfinite(fp) and math.isfinite(fq)):
                        raise ValueError(
                            f"the function gave ({fp}, {fq}) at x = ({xv}, {yv}, {zv}) kpc, R = {r} GV; "
                            "both multipliers must be positive and finite"
                        )
                    a[m, i, j, k] = math.log(fp)
                    b[m, i, j, k] = math.log(fq)
    write_diffusion_grid(path, x_kpc, y_kpc, z_kpc, a, b, rigidity_GV=rig)


# --------------------------------------------------------------------------- direct evaluation
@njit(cache=True)
def _many(kind, sp, fkind, field_p, field_grid, floor2, j, dl, pts):
    out = np.empty((pts.shape[0], 9))
    for n in range(pts.shape[0]):
        x, y, z = pts[n, 0], pts[n, 1], pts[n, 2]
        f = field_and_jacobian(fkind, field_p, field_grid, x, y, z, math.sqrt(x * x + y * y))
        r = spatial_factors(kind, sp, j, dl, x, y, z, f, floor2)
        for k in range(9):
            out[n, k] = r[k]
    return out


def spatial_factors_at(cfg, points_kpc, rigidity_GV, *, kind_params=None, field=None):
    """(f∥, f⊥, ∇ ln f∥, ∇ ln f⊥) at the rows of ``points_kpc`` for one rigidity [GV], as the kernel sees
    them: arrays (n,), (n,), (n, 3), (n, 3).  ``kind_params`` and ``field`` (kind, params, grid) may be
    passed when already built; otherwise they are built from ``cfg``."""
    from .field import build_field

    if kind_params is None:
        kind_params = build_spatial_diffusion(cfg)
    kind, sp = kind_params
    if field is None:
        if cfg.field.model == "grid":
            raise ValueError(
                "a 'grid' field model: pass field = (kind, params, grid) as engine.build_model builds it"
            )
        field = build_field(cfg.field)[:3]
    fkind, fp, fg = field
    pts = np.atleast_2d(np.asarray(points_kpc, dtype=float))
    j, dl = rigidity_selection(kind, sp, math.log(rigidity_GV))
    out = _many(kind, sp, fkind, fp, fg, float(cfg.numerics.field_floor_uG) ** 2, j, dl, pts)
    return np.exp(out[:, 0]), np.exp(out[:, 1]), out[:, 2:5], out[:, 5:8]
