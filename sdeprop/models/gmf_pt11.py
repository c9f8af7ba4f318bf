"""Pshirkov, Tinyakov, Kronberg & Newton-McGee 2011 (PT11; ApJ 738, 192, arXiv:1103.0814) regular field.

B(x, y, z) in μG and its Jacobian J_ij = ∂B_j/∂x_i in μG/kpc, both analytic, in the frame of
``models/field.py``: Galactocentric Cartesian kpc, z to the North Galactic Pole, **Sun at
(−R⊙, 0, 0) = (−8.5, 0, 0) kpc**, azimuth φ = atan2(y, x) counter-clockwise seen from the NGP.

Formulas (docs/physics.md §1.4; re-derived from CRPropa3 ``src/magneticField/PT11Field.cpp``,
commit db97df14c25b86bb0a13aba0ae1d285a6747ef76, not copied).  The paper puts the Sun at
(+8.5, 0, 0) and measures its azimuth θ clockwise, so θ = π − φ: cos θ = −x/r, sin θ = y/r.
CRPropa's PT11Field was compiled locally and evaluated at 84 points (ASS/BSS, disk and halo
alone and together); tests/data/gmf_reference_pt11_cerri17.csv keeps the values, which this
module reproduces to 5e-13 μG.  (CRPropa divides by r, so its field is NaN on the axis.)

Disk (ASS or BSS), with b = 1/tan p and Φ = b ln(1 + d/R⊙) − π/2:

    S = B₀ R⊙ / (max(r, R_c) cos Φ) · C(ψ) · exp(−|z|/z₀),   ψ = θ − b ln(r/R⊙) + Φ,
    C = cos ψ (BSS) or |cos ψ| (ASS),
    B_disk = S (sin p r̂ − cos p φ̂)     [B_r = S sin p, B_φ = −S cos p],

so at the Sun B = B₀ (sin p, cos p, 0): B₀ = 2 μG towards l = 90° + p = 85° (ASS).  The field lines
of (sin p r̂ − cos p φ̂) are the curves of constant ψ, which makes the disk divergence-free for
r > R_c (check: (1/r)∂_r(r B_r) + (1/r)∂_φ B_φ = (A Z C'/r)(cos p − b sin p) = 0).  For r < R_c the
amplitude is frozen at R_c and ∇·B = sin p · S / r ≠ 0 (a property of the model, reported by the
tests).  Mapping θ = φ + π instead (as gammaALPs ``GMFPshirkov`` does) would break this.

Halo (azimuthal, antisymmetric in z; "BHM" halo of Sun et al. 2008 as used by PT11):

    B_halo = s B_H (r/R₀ᴴ) exp(1 − r/R₀ᴴ) / [1 + ((|z| − z₀ᴴ)/z₁ᴴ)²] φ̂,
    s = +1, B_H = B_N for z > 0;  s = −1, B_H = B_S for z ≤ 0 (CRPropa's choice at z = 0);
    z₁ᴴ = z₁₁ = 0.25 kpc for |z| < z₀ᴴ, z₁₂ = 0.4 kpc otherwise (DRAGON uses 0.2 for z₁₁).

Jacobian (analytic).  With h = S/r, e = (sin p x + cos p y, sin p y − cos p x):
B_disk = h e, so ∂_i B_j = h ∂_i e_j + e_j ∂_i h, where ∂_i h follows from
∂h/∂r|_ψ = h (A'/A − 1/r) (A'/A = −1/r for r > R_c, 0 inside), ∂h/∂ψ = A Z C'(ψ)/r,
∂ψ/∂x = (y − b x)/r², ∂ψ/∂y = −(x + b y)/r², ∂h/∂z = −sgn(z) h/z₀ and
C' = −sin ψ (BSS) or −sgn(cos ψ) sin ψ (ASS).  The halo is B = w(r, z)(−y, x, 0) with
w = B_φ/r, ∂w/∂r = −w/R₀ᴴ, ∂ ln w/∂|z| = −2 q L/z₁ᴴ (q = (|z| − z₀ᴴ)/z₁ᴴ, L = 1/(1 + q²)).

Non-smooth places (the Jacobian is the derivative on the side the point belongs to):

* z = 0: B_halo jumps (s and B_H change), exp(−|z|/z₀) has a kink.  z = 0 belongs to the
  southern branch (as in CRPropa), so J(z = 0) = lim_{z→0⁻} J, i.e. d|z|/dz = −1 there.
* r = R_c: the disk amplitude has a kink; r = R_c uses the inner (constant-amplitude) derivative.
* ASS, cos ψ = 0: |cos ψ| has a kink where B_disk = 0; C' uses sgn(+0) = +1.
* |z| = z₀ᴴ: z₁ᴴ switches, but q = 0 there, so the halo is C¹ (no jump in J).
* optional inner cut ``r_in`` (default 0 = none): the disk is zero (J = 0) for r ≤ r_in.
* the axis r → 0: the disk amplitude stays finite while its direction winds (ψ ∝ ln r), so
  B_disk has no limit and |J| ~ |B|/r.  For r ≤ 1e-9 kpc the disk is set to zero; the kernel's
  step limiter (|B|/|∇B|) shortens the steps near the axis.  The halo vanishes linearly on the
  axis; there its Cartesian derivative is direction-dependent (a cone-like kink from
  exp(−r/R₀ᴴ)) and J on the axis is its azimuthal average (the cos φ, sin φ terms set to 0).

CRPropa sets nothing to zero at large radii and neither does this module.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .cylindrical import R_AXIS, azimuth

# ---- parameter layout (float64 array) -------------------------------------------------------
PT11_DISK_SCALE = 0   # multiplies the disk (0 = off, 1 = model)
PT11_HALO_SCALE = 1   # multiplies the halo (0 = off, 1 = model)
PT11_BSS = 2          # 0 = ASS (|cos ψ|), 1 = BSS (cos ψ)
PT11_B0 = 3           # disk normalisation B₀ [μG]
PT11_PITCH_DEG = 4    # pitch angle p [deg]
PT11_D = 5            # distance to the first field reversal d [kpc]
PT11_RSUN = 6         # R⊙ [kpc]
PT11_RC = 7           # R_c: disk amplitude constant inside [kpc]
PT11_Z0 = 8           # disk scale height z₀ [kpc]
PT11_BN = 9           # northern halo B_N [μG]
PT11_BS = 10          # southern halo B_S [μG]
PT11_Z0H = 11         # halo height z₀ᴴ [kpc]
PT11_R0H = 12         # halo radius R₀ᴴ [kpc]
PT11_Z11H = 13        # halo half-width for |z| < z₀ᴴ [kpc]
PT11_Z12H = 14        # halo half-width for |z| ≥ z₀ᴴ [kpc]
PT11_R_IN = 15        # disk set to zero for r ≤ r_in [kpc] (0 = no cut)
# derived (filled by pt11_params, not settable)
PT11_SINP = 16
PT11_COSP = 17
PT11_COTP = 18        # b = 1/tan p
PT11_PHI = 19         # Φ = b ln(1 + d/R⊙) − π/2
PT11_INV_COSPHI = 20  # 1/cos Φ
N_PT11_PARAMS = 21

PT11_PARAM_NAMES = (
    "disk_scale", "halo_scale", "bss", "B0", "pitch_deg", "d", "R_sun", "R_c", "z0",
    "B_N", "B_S", "z0_H", "R0_H", "z11_H", "z12_H", "r_in",
)

#: below this cylindrical radius [kpc] the disk (direction undefined on the axis) is set to zero

_DEFAULTS = {
    # CRPropa3 PT11Field (docs/physics.md §1.4); B_S and the pitch depend on the disk model
    "ASS": dict(disk_scale=1.0, halo_scale=1.0, bss=0.0, B0=2.0, pitch_deg=-5.0, d=-0.6, R_sun=8.5,
                R_c=5.0, z0=1.0, B_N=4.0, B_S=2.0, z0_H=1.3, R0_H=8.0, z11_H=0.25, z12_H=0.4, r_in=0.0),
    "BSS": dict(disk_scale=1.0, halo_scale=1.0, bss=1.0, B0=2.0, pitch_deg=-6.0, d=-0.6, R_sun=8.5,
                R_c=5.0, z0=1.0, B_N=4.0, B_S=4.0, z0_H=1.3, R0_H=8.0, z11_H=0.25, z12_H=0.4, r_in=0.0),
}


def pt11_params(disk: str = "ASS", **overrides) -> np.ndarray:
    """Parameter array (float64[N_PT11_PARAMS]) of the PT11 field for ``pt11_field``.

    ``disk`` = "ASS" (p = −5°, B_S = 2 μG) or "BSS" (p = −6°, B_S = 4 μG); ``overrides`` are any of
    ``PT11_PARAM_NAMES`` (e.g. ``halo_scale=0`` for the disk alone, ``disk_scale=0.5``,
    ``z11_H=0.2`` for DRAGON's value).  The derived entries (sin p, cos p, 1/tan p, Φ, 1/cos Φ)
    are computed here.
    """
    key = disk.upper()
    if key not in _DEFAULTS:
        raise ValueError(f"disk must be 'ASS' or 'BSS', not {disk!r}")
    vals = dict(_DEFAULTS[key])
    for name, value in overrides.items():
        if name not in vals:
            raise ValueError(f"unknown PT11 parameter {name!r}; known: {', '.join(PT11_PARAM_NAMES)}")
        vals[name] = float(value)
    if vals["bss"] not in (0.0, 1.0):
        raise ValueError("bss must be 0 (ASS) or 1 (BSS)")
    pitch = math.radians(vals["pitch_deg"])
    if math.sin(pitch) == 0.0:
        raise ValueError("pitch_deg must not be a multiple of 180 (b = 1/tan p)")
    for name in ("R_sun", "R_c", "z0", "R0_H", "z11_H", "z12_H"):
        if not vals[name] > 0.0:
            raise ValueError(f"{name} must be > 0")
    if not vals["d"] > -vals["R_sun"]:
        raise ValueError("d must be > -R_sun")
    p = np.zeros(N_PT11_PARAMS)
    for i, name in enumerate(PT11_PARAM_NAMES):
        p[i] = vals[name]
    cotp = math.cos(pitch) / math.sin(pitch)
    phi = cotp * math.log1p(vals["d"] / vals["R_sun"]) - 0.5 * math.pi
    p[PT11_SINP] = math.sin(pitch)
    p[PT11_COSP] = math.cos(pitch)
    p[PT11_COTP] = cotp
    p[PT11_PHI] = phi
    p[PT11_INV_COSPHI] = 1.0 / math.cos(phi)
    return p


@njit(cache=True, error_model="numpy")  # not inlined: keeps the kernel's compile time short
def pt11_field(p, x, y, z, r):
    """PT11 B (μG) and J_ij = ∂B_j/∂x_i (μG/kpc) at (x, y, z) kpc; r = sqrt(x² + y²).

    Returns (Bx, By, Bz, J00, J01, J02, J10, J11, J12, J20, J21, J22), J row-major; see the
    module docstring for the conventions at z = 0, r = R_c, the axis and the ASS kinks.
    """
    bx = 0.0
    by = 0.0
    jxx = 0.0
    jxy = 0.0
    jyx = 0.0
    jyy = 0.0
    jzx = 0.0
    jzy = 0.0
    az = abs(z)
    north = z > 0.0
    sz = 1.0 if north else -1.0  # d|z|/dz on the side z belongs to (z = 0: south)
    inv_r, cx, cy = azimuth(x, y, r, R_AXIS, 0.0)

    # ---- disk
    ds = p[PT11_DISK_SCALE]
    if ds != 0.0 and r > R_AXIS and r > p[PT11_R_IN]:
        sinp = p[PT11_SINP]
        cosp = p[PT11_COSP]
        cotp = p[PT11_COTP]
        rsun = p[PT11_RSUN]
        rc = p[PT11_RC]
        z0 = p[PT11_Z0]
        if r > rc:
            amp = ds * p[PT11_B0] * rsun * p[PT11_INV_COSPHI] * inv_r
            dlna = -inv_r
        else:
            amp = ds * p[PT11_B0] * rsun * p[PT11_INV_COSPHI] / rc
            dlna = 0.0
        zf = math.exp(-az / z0)
        beta = p[PT11_PHI] - cotp * math.log(r / rsun)
        cb = math.cos(beta)
        sb = math.sin(beta)
        cth = -cx  # cos θ, θ = π − φ
        sth = cy   # sin θ
        cpsi = cth * cb - sth * sb
        spsi = sth * cb + cth * sb
        if p[PT11_BSS] != 0.0 or cpsi >= 0.0:
            cc = cpsi
            dc = -spsi
        else:
            cc = -cpsi
            dc = spsi
        az_ = amp * zf
        h = az_ * cc * inv_r                # S / r
        h_r = h * (dlna - inv_r)            # ∂h/∂r at fixed ψ
        h_psi = az_ * dc * inv_r            # ∂h/∂ψ
        inv_r2 = inv_r * inv_r
        hx = h_r * cx + h_psi * (y - cotp * x) * inv_r2
        hy = h_r * cy - h_psi * (x + cotp * y) * inv_r2
        hz = -sz * h / z0
        ex = sinp * x + cosp * y
        ey = sinp * y - cosp * x
        bx += h * ex
        by += h * ey
        jxx += h * sinp + ex * hx
        jxy += -h * cosp + ey * hx
        jyx += h * cosp + ex * hy
        jyy += h * sinp + ey * hy
        jzx += ex * hz
        jzy += ey * hz

    # ---- halo: B = w (−y, x, 0), w = B_φ / r
    hs = p[PT11_HALO_SCALE]
    if hs != 0.0:
        z0h = p[PT11_Z0H]
        r0h = p[PT11_R0H]
        bh = p[PT11_BN] if north else -p[PT11_BS]
        z1 = p[PT11_Z11H] if az < z0h else p[PT11_Z12H]
        q = (az - z0h) / z1
        lor = 1.0 / (1.0 + q * q)
        w = hs * bh * lor * math.exp(1.0 - r / r0h) / r0h
        w_r = -w / r0h
        w_z = sz * w * (-2.0 * q * lor / z1)
        bx -= w * y
        by += w * x
        jxx -= y * w_r * cx
        jxy += w + x * w_r * cx
        jyx -= w + y * w_r * cy
        jyy += x * w_r * cy
        jzx -= y * w_z
        jzy += x * w_z

    return (bx, by, 0.0,
            jxx, jxy, 0.0,
            jyx, jyy, 0.0,
            jzx, jzy, 0.0)
