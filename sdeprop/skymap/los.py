"""Line-of-sight integration of an emissivity through a tally's grid (the numba part of the sky maps).

The intensity in a direction d̂ seen from the observer o is

    I(E) = ∫ q(o + s d̂, E) ds,

with q the volume emissivity per steradian [GeV⁻¹ cm⁻³ s⁻¹ sr⁻¹] (so that the usual 1/4π of an
isotropic emitter is already in q) and s in cm; I is in GeV⁻¹ cm⁻² s⁻¹ sr⁻¹ (docs/skymaps.md, "Line of
sight").  The emissivity is a sum over channels c,

    q(x, E) = Σ_c t_c(x) · Q_c(x, E),

where Q_c is the emissivity per unit target that the tally gives cell by cell (the emission matrices
applied to the particle density), interpolated to x, and t_c(x) the target density evaluated at x
itself: the hydrogen-nucleus density of the gas (pion decay, bremsstrahlung), the energy density of an
ISRF component relative to its local value (inverse Compton), or one.  Gas and ISRF are therefore
resolved on the integration step, not on the tally's cells.

The integral is a midpoint sum over steps of at most ``step_kpc`` (half a tally cell by default), with
``fine_step_kpc`` inside the gas layer |z| < ``fine_layer_kpc`` where the gas varies on 50–100 pc, and
a last step cut exactly at the end of the ray: the far side of the tally's domain (a box or a
cylinder) or ``max_distance_kpc``, whichever comes first.  For an emissivity that is constant along the
ray the sum is exact.

Uncertainty: every pixel also gets U = ∫ Σ_c t_c S_c ds, with S_c the per-cell 1σ of Q_c.  Cells
along a ray (and the energy bins and channels of one cell) share histories, so their errors are
correlated; by the triangle inequality for standard deviations U bounds the pixel's 1σ from above
whatever the correlations are (it is exact for fully correlated cells).  docs/skymaps.md compares it
with the scatter of independent runs.

Rays come grouped by pixel (CSR: the rays of pixel p are ``ray_start[p]:ray_start[p + 1]``, each with
a weight, normally 1/number of rays of that pixel), so the pixels can run in parallel without races.
A ray stands for a beam (its pixel's footprint); wide beams split as they go (``integrate_rays``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from ..models.gas3d import hydrogen_nuclei
from ..models.isrf import isrf_energy_density
from ..units import KPC_CM

GRID_CARTESIAN = 0
GRID_CYLINDRICAL = 1

INTERP_NEAREST = 0
INTERP_LINEAR = 1

TARGET_ONE = 0
TARGET_GAS = 1
TARGET_ISRF = 2


class LineOfSight(NamedTuple):
    """Everything the march needs besides the rays (numba reads a NamedTuple's fields at no cost)."""

    grid_kind: int  #: GRID_CARTESIAN or GRID_CYLINDRICAL
    grid_lo: np.ndarray  #: (3,) lower edges [kpc] ((R, z, –) for cylindrical)
    grid_hi: np.ndarray  #: (3,) upper edges [kpc]
    grid_inv: np.ndarray  #: (3,) cells per kpc
    grid_n: np.ndarray  #: (3,) cell counts
    interpolation: int  #: INTERP_NEAREST or INTERP_LINEAR
    emissivity: np.ndarray  #: (channels, cells, E) per unit target [GeV⁻¹ cm⁻³ s⁻¹ sr⁻¹]
    emissivity_sigma: np.ndarray  #: its 1σ, same shape
    target_kind: np.ndarray  #: per channel, TARGET_*
    target_index: np.ndarray  #: per channel, the ISRF component (TARGET_ISRF)
    gas_kind: int  #: models.gas3d kind code
    gas_params: np.ndarray
    gas_grid: np.ndarray
    isrf_params: np.ndarray  #: models.isrf parameter array
    isrf_local: np.ndarray  #: per component, U_i,⊙ [eV cm⁻³]
    step_kpc: float  #: step outside the gas layer [kpc]
    fine_step_kpc: float  #: step inside |z| < fine_layer_kpc [kpc]
    fine_layer_kpc: float
    beam_width_kpc: float  #: beams split when wider than this [kpc]
    layer_beam_width_kpc: float  #: … or than this inside the gas layer [kpc]
    absorption: np.ndarray  #: (ISRF components, E) γγ opacity [kpc⁻¹] at U_i,⊙; zero rows: none
    max_distance_kpc: float  #: rays end here at the latest [kpc]


# ----------------------------------------------------------------------------- ray geometry
@njit(cache=True, error_model="numpy")
def _slab(o, d, lo, hi, t0, t1):
    """Intersect the parameter interval [t0, t1] of o + t d with lo ≤ x ≤ hi (one axis)."""
    if d == 0.0:
        if o < lo or o > hi:
            return 1.0, 0.0
        return t0, t1
    a = (lo - o) / d
    b = (hi - o) / d
    if a > b:
        a, b = b, a
    return max(t0, a), min(t1, b)


@njit(cache=True, error_model="numpy")
def ray_interval(grid_kind, lo, hi, ox, oy, oz, dx, dy, dz, max_distance):
    """The part [s_in, s_out] of the ray o + s d̂ (s ≥ 0, ≤ max_distance) inside the tally domain.

    Cartesian: the box lo ≤ x ≤ hi (three axes).  Cylindrical: R = √(x² + y²) ≤ hi[0] and
    lo[1] ≤ z ≤ hi[1] (the hole R < lo[0] of an annular tally is handled by the interpolation, which
    gives zero there).  Returns s_in > s_out when the ray misses the domain.
    """
    t0, t1 = 0.0, max_distance
    if grid_kind == GRID_CARTESIAN:
        t0, t1 = _slab(ox, dx, lo[0], hi[0], t0, t1)
        t0, t1 = _slab(oy, dy, lo[1], hi[1], t0, t1)
        t0, t1 = _slab(oz, dz, lo[2], hi[2], t0, t1)
        return t0, t1
    t0, t1 = _slab(oz, dz, lo[1], hi[1], t0, t1)
    # |o_xy + s d_xy|² ≤ R² : a s² + 2 b s + c ≤ 0
    a = dx * dx + dy * dy
    b = ox * dx + oy * dy
    c = ox * ox + oy * oy - hi[0] * hi[0]
    if a == 0.0:
        if c > 0.0:
            return 1.0, 0.0
        return t0, t1
    disc = b * b - a * c
    if disc < 0.0:
        return 1.0, 0.0
    r = math.sqrt(disc)
    return max(t0, (-b - r) / a), min(t1, (-b + r) / a)


# ----------------------------------------------------------------------------- interpolation
@njit(cache=True, inline="always", error_model="numpy")
def _axis_linear(value, lo, inv, n):
    """(index, fraction) of linear interpolation between cell centres, constant beyond the outer centres;
    index −1 when the value lies outside the axis."""
    u = (value - lo) * inv
    if u < 0.0 or u > n:
        return -1, 0.0
    c = u - 0.5
    if c <= 0.0 or n == 1:
        return 0, 0.0
    if c >= n - 1:
        return n - 2, 1.0
    i = int(c)
    return i, c - i


@njit(cache=True, inline="always", error_model="numpy")
def _axis_nearest(value, lo, inv, n):
    u = (value - lo) * inv
    if u < 0.0 or u >= n:
        if u == n:  # the far edge itself belongs to the last cell
            return n - 1
        return -1
    return int(u)


@njit(cache=True, error_model="numpy")
def cell_weights(grid_kind, interpolation, lo, inv, n, x, y, z, cells, weights):
    """Fill ``cells`` (flat indices) and ``weights`` for the point (x, y, z); returns how many are used
    (0 outside the grid).  Flat index: C order over the grid's axes ((x, y, z) or (R, z))."""
    if grid_kind == GRID_CARTESIAN:
        c0, c1, c2 = x, y, z
        n_axes = 3
    else:
        c0, c1, c2 = math.sqrt(x * x + y * y), z, 0.0
        n_axes = 2
    if interpolation == INTERP_NEAREST:
        i0 = _axis_nearest(c0, lo[0], inv[0], n[0])
        i1 = _axis_nearest(c1, lo[1], inv[1], n[1])
        if i0 < 0 or i1 < 0:
            return 0
        if n_axes == 3:
            i2 = _axis_nearest(c2, lo[2], inv[2], n[2])
            if i2 < 0:
                return 0
            cells[0] = (i0 * n[1] + i1) * n[2] + i2
        else:
            cells[0] = i0 * n[1] + i1
        weights[0] = 1.0
        return 1
    i0, f0 = _axis_linear(c0, lo[0], inv[0], n[0])
    i1, f1 = _axis_linear(c1, lo[1], inv[1], n[1])
    if i0 < 0 or i1 < 0:
        return 0
    i2, f2 = 0, 0.0
    if n_axes == 3:
        i2, f2 = _axis_linear(c2, lo[2], inv[2], n[2])
        if i2 < 0:
            return 0
    m = 0
    for a in range(2):
        wa = f0 if a == 1 else 1.0 - f0
        if wa == 0.0:
            continue
        for b in range(2):
            wb = wa * (f1 if b == 1 else 1.0 - f1)
            if wb == 0.0:
                continue
            if n_axes == 2:
                cells[m] = (i0 + a) * n[1] + i1 + b
                weights[m] = wb
                m += 1
                continue
            for c in range(2):
                wc = wb * (f2 if c == 1 else 1.0 - f2)
                if wc == 0.0:
                    continue
                cells[m] = ((i0 + a) * n[1] + i1 + b) * n[2] + i2 + c
                weights[m] = wc
                m += 1
    return m


@njit(cache=True, error_model="numpy")
def _target(kind, index, gas_kind, gas_params, gas_grid, isrf_params, isrf_local, x, y, z):
    """Target density at (x, y, z): one, n_H [cm⁻³], or U_i(x)/U_i,⊙ of ISRF component ``index``."""
    if kind == TARGET_ONE:
        return 1.0
    if kind == TARGET_GAS:
        return hydrogen_nuclei(gas_kind, gas_params, gas_grid, x, y, z)
    return isrf_energy_density(isrf_params, index, x, y, z) / isrf_local[index]


# ----------------------------------------------------------------------------- the integral
MAX_SPLIT_DEPTH = 12
"""A beam is split at most 12 times (4¹² sub-beams of the pixel at the far end)."""


@njit(cache=True, error_model="numpy")
def _march(
    los,
    ox,
    oy,
    oz,
    dx,
    dy,
    dz,
    s_start,
    s_out,
    s_split,
    s_split_layer,
    f_ray,
    cells,
    weights,
    targets,
    acc,
    acc_sigma,
    tau,
    attenuation,
):
    """Midpoint sum of one ray from s_start to min(s_out, s_split) into acc/acc_sigma (f_ray: weight × cm
    per kpc), stopping also at s_split_layer if the ray is then inside the gas layer; returns where it
    stopped (≥ s_out when it reached the end).

    With ``los.absorption`` of more than zero rows, the emission at s is attenuated by exp(−τ(E, s)), τ
    the optical depth from the ray's entry (``tau``, carried across calls and updated),
    κ(E, x) = Σ_i absorption[i, E] U_i(x)/U_i⊙ taken at the step's middle; each step applies
    the exact mean of e^{−τ} over the step for constant κ, e^{−τ₀}(1 − e^{−κ ds})/(κ ds)."""
    emissivity, emissivity_sigma, absorption = los.emissivity, los.emissivity_sigma, los.absorption
    n_ch, _, n_e = emissivity.shape
    n_abs = absorption.shape[0]
    s = s_start
    end = min(s_out, s_split)
    while s < end:
        z_here = abs(oz + s * dz)
        if z_here < los.fine_layer_kpc:
            if s >= s_split_layer:
                return s
            ds = los.fine_step_kpc
        else:
            ds = min(los.step_kpc, los.fine_step_kpc + 0.25 * (z_here - los.fine_layer_kpc))
        last = s + ds >= end
        if last:
            ds = end - s
        sm = s + 0.5 * ds
        x, y, z = ox + sm * dx, oy + sm * dy, oz + sm * dz
        if n_abs > 0:
            for e in range(n_e):
                attenuation[e] = 0.0
            for i in range(n_abs):
                scale = isrf_energy_density(los.isrf_params, i, x, y, z) / los.isrf_local[i]
                for e in range(n_e):
                    attenuation[e] += absorption[i, e] * scale
            for e in range(n_e):
                # the step's mean of e^{−τ}: exact for κ and q constant over the step
                k_ds = attenuation[e] * ds
                mean = -math.expm1(-k_ds) / k_ds if k_ds > 1e-12 else 1.0 - 0.5 * k_ds
                attenuation[e] = math.exp(-tau[e]) * mean
                tau[e] += k_ds
        m = cell_weights(
            los.grid_kind, los.interpolation, los.grid_lo, los.grid_inv, los.grid_n, x, y, z, cells, weights
        )
        if m > 0:
            for c in range(n_ch):
                targets[c] = _target(
                    los.target_kind[c], los.target_index[c], los.gas_kind, los.gas_params, los.gas_grid,
                    los.isrf_params, los.isrf_local, x, y, z,
                )  # fmt: skip
            f = f_ray * ds
            for c in range(n_ch):
                tc = targets[c] * f
                if tc == 0.0:
                    continue
                for k in range(m):
                    wk = tc * weights[k]
                    cell = cells[k]
                    if n_abs > 0:
                        for e in range(n_e):
                            acc[e] += wk * emissivity[c, cell, e] * attenuation[e]
                            acc_sigma[e] += wk * emissivity_sigma[c, cell, e] * attenuation[e]
                    else:
                        for e in range(n_e):
                            acc[e] += wk * emissivity[c, cell, e]
                            acc_sigma[e] += wk * emissivity_sigma[c, cell, e]
        if last:
            return end
        s += ds
    return s


@njit(cache=True, parallel=True, error_model="numpy")
def integrate_rays(observer, directions, ray_start, ray_weight, beam, los):
    """Intensity and its upper-bound 1σ per pixel: arrays (n_pixels, n_E) [GeV⁻¹ cm⁻² s⁻¹ sr⁻¹], for the
    grid, channels, targets and steps of ``los`` (LineOfSight).  Directions are unit vectors.

    Beams: ``beam[r]`` = (e1, e2, h1, h2), two unit vectors across ray r and the half-widths [rad] of
    the rectangle it stands for.  Once the beam is wider than ``los.beam_width_kpc`` (at s = width/(2h))
    the ray is replaced by four rays through the centres of the rectangle's quarters, each with a
    quarter of its weight, which go on from there; so the rays sample the tally's cells at least as
    finely as the beam width everywhere, while near the observer one ray serves the whole pixel.  Inside
    the gas layer (|z| < los.fine_layer_kpc) beams split already at ``los.layer_beam_width_kpc``, so
    that the thin gas disc (scale heights of 50–100 pc) is resolved across the pixel too.  h = 0 never
    splits.  The γγ optical depth (``los.absorption``) runs from the ray's entry into the domain and
    travels with the sub-beams.
    """
    n_pix = ray_start.shape[0] - 1
    n_ch, _, n_e = los.emissivity.shape
    out = np.zeros((n_pix, n_e))
    out_sigma = np.zeros((n_pix, n_e))
    ox, oy, oz = observer[0], observer[1], observer[2]
    depth_max = 3 * MAX_SPLIT_DEPTH + 4
    for p in prange(n_pix):
        cells = np.empty(8, dtype=np.int64)
        weights = np.empty(8)
        targets = np.empty(n_ch)
        acc = np.zeros(n_e)
        acc_sigma = np.zeros(n_e)
        # stack of sub-beams: offsets (u, v) [rad], half-widths, start distance, weight, depth, τ(E)
        st = np.empty((depth_max, 7 + n_e))
        tau = np.zeros(n_e)
        attenuation = np.ones(n_e)
        for r in range(ray_start[p], ray_start[p + 1]):
            top = 0
            st[0, 0], st[0, 1], st[0, 2], st[0, 3] = 0.0, 0.0, beam[r, 6], beam[r, 7]
            st[0, 4], st[0, 5], st[0, 6] = 0.0, ray_weight[r], 0.0
            for e in range(n_e):
                st[0, 7 + e] = 0.0
            top = 1
            while top > 0:
                top -= 1
                u, v, hu, hv, s0, w, depth = (
                    st[top, 0],
                    st[top, 1],
                    st[top, 2],
                    st[top, 3],
                    st[top, 4],
                    st[top, 5],
                    st[top, 6],
                )
                for e in range(n_e):
                    tau[e] = st[top, 7 + e]
                dx = directions[r, 0] + u * beam[r, 0] + v * beam[r, 3]
                dy = directions[r, 1] + u * beam[r, 1] + v * beam[r, 4]
                dz = directions[r, 2] + u * beam[r, 2] + v * beam[r, 5]
                norm = math.sqrt(dx * dx + dy * dy + dz * dz)
                dx, dy, dz = dx / norm, dy / norm, dz / norm
                s_in, s_out = ray_interval(
                    los.grid_kind, los.grid_lo, los.grid_hi, ox, oy, oz, dx, dy, dz, los.max_distance_kpc
                )
                if not s_out > max(s_in, s0):
                    continue
                h = max(hu, hv)
                s_split = math.inf
                s_split_layer = math.inf
                if h > 0.0 and depth < MAX_SPLIT_DEPTH:
                    s_split = los.beam_width_kpc / (2.0 * h)
                    s_split_layer = los.layer_beam_width_kpc / (2.0 * h)
                s = _march(
                    los, ox, oy, oz, dx, dy, dz, max(s_in, s0), s_out, s_split, s_split_layer, w * KPC_CM,
                    cells, weights, targets, acc, acc_sigma, tau, attenuation,
                )  # fmt: skip
                if s < s_out:  # the beam grew too wide: four quarter beams go on from s
                    for a in (-0.5, 0.5):
                        for b in (-0.5, 0.5):
                            st[top, 0], st[top, 1] = u + a * hu, v + b * hv
                            st[top, 2], st[top, 3] = 0.5 * hu, 0.5 * hv
                            st[top, 4], st[top, 5], st[top, 6] = s, 0.25 * w, depth + 1
                            for e in range(n_e):
                                st[top, 7 + e] = tau[e]
                            top += 1
        for e in range(n_e):
            out[p, e] = acc[e]
            out_sigma[p, e] = acc_sigma[e]
    return out, out_sigma
