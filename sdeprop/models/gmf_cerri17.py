"""Cerri, Gaggero, Vittino, Evoli & Grasso 2017 (JCAP 10, 019, arXiv:1707.07694) 2D (R, z) field.

Axisymmetric regular field of the paper's section 2: an azimuthal disk ("ring" model after
Pshirkov et al. 2011), an azimuthal halo, and the X-shaped poloidal field of Jansson & Farrar
2012 (JF12).  B(x, y, z) in μG and its analytic Jacobian J_ij = ∂B_j/∂x_i in μG/kpc, in the
frame of ``models/field.py`` (Galactocentric Cartesian kpc, z to the NGP).  The model is
axisymmetric, so the Sun's azimuth does not matter; its radius is R⊙ = 8.3 kpc (DRAGONCELLO
``constants.h``), used only as the disk's reference radius: put the Sun at (−8.3, 0, 0).
B_φ > 0 points along +φ̂ (counter-clockwise seen from the NGP) in both hemispheres.

Sources.  The paper's section 2 could not be read (abstract only, docs/physics.md §9 item 5).  The
formulas are re-derived (not copied) from the authors' code DRAGONCELLO, github.com/sscerr/
DRAGONCELLO ``dragoncello.cpp`` ``initBfield`` (FARRAR_SIMPLE_2D), commit
1dfa2a9bf4d6359d5a9257c10f9adf825edd4594, and from JF12 as coded in CRPropa3
``src/magneticField/JF12Field.cpp`` ``getXField`` (commit db97df14c25b86bb0a13aba0ae1d285a6747ef76).
Both were compiled locally and evaluated; tests/data/gmf_reference_pt11_cerri17.csv keeps their
values (DRAGONCELLO's unit vectors on its (r, z) grid, CRPropa's JF12 X-field in 3D), which this
module reproduces to ~1e-13.  Unlike CRPropa's JF12 this module does not zero the X-field inside
a 1 kpc sphere, and at z = 0 in the inner region it uses the limit z → 0⁺ (tan Θ = r_Xc tan Θ_X0/r,
as DRAGONCELLO does) where CRPropa sets Θ = 90°.

Components (ζ = |z|, σ = sgn z with σ(0) = +1, i.e. z = 0 belongs to the north as in DRAGONCELLO):

* disk: B_φ = B_D0 e^{−ζ/Z₀} × {1 for r ≤ R_cD; e^{−(r − R⊙)/R₀} for r > R_cD},
  B_D0 = 4 μG, Z₀ = 1, R₀ = 10, R_cD = 5 kpc.  B_φ jumps by e^{(R⊙ − R_cD)/R₀} = 1.39 at r = R_cD
  (as in the code; tangential, so ∇·B stays 0).
* halo: B_φ = B_H0 (r/R₀ᴴ) e^{1 − r/R₀ᴴ} / [1 + ((ζ − Z₀ᴴ)/Z₁ᴴ)²], B_H0 = 1 μG, R₀ᴴ = 8, Z₀ᴴ = 1.3,
  Z₁ᴴ = 0.2 (ζ < Z₀ᴴ) or 0.4 kpc (C¹ at ζ = Z₀ᴴ).
* X-field (JF12 form): B_X0 = 4.6 μG, Θ_X0 = 49°, r_Xc = 4.8 kpc, r_X = 2.9 kpc.
  Outer ("constant elevation") region: r_p = r − ζ/tan Θ_X0, Θ = Θ_X0, |B_X| = B_X0 e^{−r_p/r_X} r_p/r.
  Inner region: with a = ζ + r_Xc tan Θ_X0 and k = r_Xc tan Θ_X0 / a (= r_p/r),
  r_p = k r, tan Θ = a/r, |B_X| = B_X0 e^{−r_p/r_X} k².   B_r = σ |B_X| cos Θ, B_z = |B_X| sin Θ.
  Field lines are straight: outer ones at the fixed elevation Θ_X0, inner ones through
  (r, z) = (0, −σ r_Xc tan Θ_X0).  The flux carried between neighbouring lines,
  2π B_X0 e^{−r_p/r_X} r_p sin Θ dr_p, is the same at every height, so each region is
  divergence-free (checked analytically and by the tests: trace J = 0).  B_r flips sign at
  z = 0 (a tangential discontinuity: B_z is even, so B·ẑ is continuous there).

Discrepancies between the issue (paper) and the code, resolved by parameters:

* r_X: the issue specifies JF12's 2.9 kpc; DRAGONCELLO uses 3.0 kpc (so do docs/physics.md §1.5's
  regression values).  Default 2.9; ``cerri17_params(r_X=3.0)`` reproduces the code.
* where the inner region ends: JF12 (and CRPropa) switch on the field line through r_Xc,
  i.e. inner for r < r_c(z) = r_Xc + ζ/tan Θ_X0 (``x_geometry=0``, the default, chosen because
  the issue quotes the paper's JF12 parameters; the paper's own wording is unverified).  The boundary is a
  field line of both regions, so B·n is continuous and ∇·B = 0 everywhere; |B_X| jumps by
  r_Xc/r_c(z) across it.  DRAGONCELLO switches at the fixed cylinder r = r_Xc (``x_geometry=1``:
  inner for r ≤ r_Xc): there B_r jumps for z ≠ 0, a surface divergence on r = r_Xc, and for
  ζ ≥ r tan Θ_X0 (beyond the code's |z| ≤ 5 kpc box) r_p ≤ 0, where this module sets the X-field to
  zero (the code's formula would give a reversed, exponentially growing field).
* on the axis DRAGONCELLO regularises r → max(r, 0.01 kpc) in |B_X|, which makes B_X = 0 at r = 0;
  here the exact limit is used: B_X(r = 0) = B_X0 k² ẑ (B_r ∝ r → 0).

Jacobian.  Write B = u (x, y, 0) + w (−y, x, 0) + B_z ẑ with u = B_r/r, w = B_φ/r; then
∂_x B_x = u + (x ∂_r u − y ∂_r w) x/r, ∂_x B_y = w + (y ∂_r u + x ∂_r w) x/r, ∂_x B_z = ∂_r B_z x/r,
likewise for y, and ∂_z B = (x ∂_z u − y ∂_z w, y ∂_z u + x ∂_z w, ∂_z B_z).  Inner X-field, with
F = B_X0 k² e^{−kr/r_X}/ρ, ρ² = r² + a²: u = σF, B_z = aF, ∂_r ln F = −k/r_X − r/ρ²,
∂_ζ ln F = −2/a + k r/(a r_X) − a/ρ².  Outer, with G = B_X0 e^{−r_p/r_X} r_p/r: u = σ G cos Θ_X0 / r,
B_z = G sin Θ_X0, ∂_r G = B_X0 e^{−r_p/r_X}[(1 − r_p/r_X)/r − r_p/r²],
∂_ζ G = −B_X0 e^{−r_p/r_X}(1 − r_p/r_X)/(r tan Θ_X0).
∂_z = σ ∂_ζ.

Non-smooth places (J is the derivative on the side the point belongs to):

* z = 0: B_r (X-field) jumps, e^{−ζ/Z₀} has a kink; z = 0 is northern, J(0) = lim_{z→0⁺} J.
* r = R_cD (disk): the point belongs to the inside (r ≤ R_cD, as in the code).  X-field boundary:
  r = r_c(z) belongs to the outer region (``x_geometry=0``: inner is r < r_c, as in CRPropa),
  r = r_Xc to the inner one (``x_geometry=1``: inner is r ≤ r_Xc, as in DRAGONCELLO); r_p = 0
  (``x_geometry=1``) to the zero-field side.  Each gets its own side's derivative.
* optional inner cut ``r_in`` (default 0 = none): the disk is zero (J = 0) for r ≤ r_in.
* the axis: the disk's B_φ does not vanish as r → 0 (a line vortex: direction undefined,
  |J| ~ B_φ/r).  For r ≤ 1e-9 kpc the disk is set to zero; the kernel's step limiter
  (|B|/|∇B|) shortens the steps near the axis.  Halo and X-field are regular on the axis but have
  a cone-like kink there (their r-derivatives contain terms odd in r, e.g. from e^{−r/R₀ᴴ});
  J on the axis is the azimuthal average (the x/r, y/r terms set to 0), which is what a
  central difference across the axis gives.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .cylindrical import R_AXIS, azimuth

# ---- parameter layout (float64 array) -------------------------------------------------------
C17_DISK_SCALE = 0    # multiplies the disk (0 = off)
C17_HALO_SCALE = 1    # multiplies the halo (0 = off)
C17_X_SCALE = 2       # multiplies the X-field (0 = off)
C17_BD0 = 3           # disk B_D0 [μG]
C17_Z0 = 4            # disk scale height Z₀ [kpc]
C17_R0 = 5            # disk radial scale R₀ [kpc] (r > R_cD)
C17_RCD = 6           # disk: constant for r ≤ R_cD [kpc]
C17_RSUN = 7          # R⊙ [kpc], disk reference radius
C17_BH0 = 8           # halo B_H0 [μG]
C17_R0H = 9           # halo R₀ᴴ [kpc]
C17_Z0H = 10          # halo Z₀ᴴ [kpc]
C17_Z1H_IN = 11       # halo Z₁ᴴ for |z| < Z₀ᴴ [kpc]
C17_Z1H_OUT = 12      # halo Z₁ᴴ for |z| ≥ Z₀ᴴ [kpc]
C17_BX0 = 13          # X-field B_X0 [μG]
C17_THETAX0_DEG = 14  # X-field Θ_X0 [deg]
C17_RXC = 15          # X-field r_Xc [kpc]
C17_RX = 16           # X-field r_X [kpc]
C17_XGEOM = 17        # 0 = JF12 (inner for r < r_Xc + |z|/tan Θ_X0), 1 = DRAGONCELLO (inner for r ≤ r_Xc)
C17_R_IN = 18         # disk set to zero for r ≤ r_in [kpc] (0 = no cut)
# derived (filled by cerri17_params, not settable)
C17_TANX = 19
C17_SINX = 20
C17_COSX = 21
C17_A0 = 22           # r_Xc tan Θ_X0
N_C17_PARAMS = 23

C17_PARAM_NAMES = (
    "disk_scale", "halo_scale", "x_scale", "B_D0", "Z0", "R0", "R_cD", "R_sun",
    "B_H0", "R0_H", "Z0_H", "Z1_H_in", "Z1_H_out",
    "B_X0", "theta_X0_deg", "r_Xc", "r_X", "x_geometry", "r_in",
)

#: below this cylindrical radius [kpc] the disk (a line vortex on the axis) is set to zero

CERRI17_DEFAULTS = dict(
    disk_scale=1.0, halo_scale=1.0, x_scale=1.0,
    B_D0=4.0, Z0=1.0, R0=10.0, R_cD=5.0, R_sun=8.3,                 # DRAGONCELLO
    B_H0=1.0, R0_H=8.0, Z0_H=1.3, Z1_H_in=0.2, Z1_H_out=0.4,        # DRAGONCELLO
    B_X0=4.6, theta_X0_deg=49.0, r_Xc=4.8, r_X=2.9,                 # issue (= JF12); code: r_X = 3.0
    x_geometry=0.0, r_in=0.0,
)


def cerri17_params(**overrides) -> np.ndarray:
    """Parameter array (float64[N_C17_PARAMS]) of the Cerri et al. 2017 field for ``cerri17_field``.

    ``overrides`` are any of ``C17_PARAM_NAMES``: ``disk_scale``, ``halo_scale``, ``x_scale``
    switch (0) or scale the three components; ``r_X=3.0, x_geometry=1`` reproduces DRAGONCELLO.
    """
    vals = dict(CERRI17_DEFAULTS)
    for name, value in overrides.items():
        if name not in vals:
            raise ValueError(f"unknown Cerri17 parameter {name!r}; known: {', '.join(C17_PARAM_NAMES)}")
        vals[name] = float(value)
    if vals["x_geometry"] not in (0.0, 1.0):
        raise ValueError("x_geometry must be 0 (JF12) or 1 (DRAGONCELLO)")
    if not 0.0 < vals["theta_X0_deg"] < 90.0:
        raise ValueError("theta_X0_deg must be in (0, 90)")
    for name in ("Z0", "R0", "R0_H", "Z1_H_in", "Z1_H_out", "r_Xc", "r_X"):
        if not vals[name] > 0.0:
            raise ValueError(f"{name} must be > 0")
    p = np.zeros(N_C17_PARAMS)
    for i, name in enumerate(C17_PARAM_NAMES):
        p[i] = vals[name]
    th = math.radians(vals["theta_X0_deg"])
    p[C17_TANX] = math.tan(th)
    p[C17_SINX] = math.sin(th)
    p[C17_COSX] = math.cos(th)
    p[C17_A0] = vals["r_Xc"] * math.tan(th)
    return p


@njit(cache=True, error_model="numpy")  # not inlined: keeps the kernel's compile time short
def cerri17_field(p, x, y, z, r):
    """Cerri et al. 2017 B (μG) and J_ij = ∂B_j/∂x_i (μG/kpc) at (x, y, z) kpc; r = sqrt(x² + y²).

    Returns (Bx, By, Bz, J00, J01, J02, J10, J11, J12, J20, J21, J22), J row-major; see the
    module docstring for the conventions at z = 0, at the region boundaries and on the axis.
    """
    az = abs(z)
    sg = 1.0 if z >= 0.0 else -1.0  # sgn z with z = 0 northern; also d|z|/dz
    inv_r, cx, cy = azimuth(x, y, r, R_AXIS, 0.0)
    # u = B_r / r, w = B_φ / r, and their r- and z-derivatives; B_z and its derivatives
    u = 0.0
    u_r = 0.0
    u_z = 0.0
    w = 0.0
    w_r = 0.0
    w_z = 0.0
    bz = 0.0
    bz_r = 0.0
    bz_z = 0.0

    # ---- X-field
    xs = p[C17_X_SCALE]
    if xs != 0.0:
        tanx = p[C17_TANX]
        rxc = p[C17_RXC]
        rx = p[C17_RX]
        if p[C17_XGEOM] != 0.0:
            inner = r <= rxc
        else:
            inner = r < rxc + az / tanx
        if inner:
            a = az + p[C17_A0]
            k = p[C17_A0] / a
            rho2 = r * r + a * a
            f = xs * p[C17_BX0] * k * k * math.exp(-k * r / rx) / math.sqrt(rho2)
            f_r = f * (-k / rx - r / rho2)
            f_zeta = f * (-2.0 / a + k * r / (a * rx) - a / rho2)
            u += sg * f
            u_r += sg * f_r
            u_z += f_zeta  # σ ∂_ζ(σ F)
            bz += a * f
            bz_r += a * f_r
            bz_z += sg * (a * f_zeta + f)
        else:
            rp = r - az / tanx
            if rp > 0.0:
                e = xs * p[C17_BX0] * math.exp(-rp / rx)
                g = e * rp * inv_r
                g_r = e * ((1.0 - rp / rx) - rp * inv_r) * inv_r
                g_zeta = -e * (1.0 - rp / rx) * inv_r / tanx
                cosx = p[C17_COSX]
                sinx = p[C17_SINX]
                u += sg * cosx * g * inv_r
                u_r += sg * cosx * (g_r - g * inv_r) * inv_r
                u_z += cosx * g_zeta * inv_r
                bz += sinx * g
                bz_r += sinx * g_r
                bz_z += sg * sinx * g_zeta

    # ---- disk (azimuthal ring model)
    ds = p[C17_DISK_SCALE]
    if ds != 0.0 and r > R_AXIS and r > p[C17_R_IN]:
        z0 = p[C17_Z0]
        bphi = ds * p[C17_BD0] * math.exp(-az / z0)
        if r > p[C17_RCD]:
            r0 = p[C17_R0]
            bphi *= math.exp(-(r - p[C17_RSUN]) / r0)
            bphi_r = -bphi / r0
        else:
            bphi_r = 0.0
        wd = bphi * inv_r
        w += wd
        w_r += (bphi_r - wd) * inv_r
        w_z -= sg * wd / z0

    # ---- halo (azimuthal)
    hs = p[C17_HALO_SCALE]
    if hs != 0.0:
        z0h = p[C17_Z0H]
        r0h = p[C17_R0H]
        z1 = p[C17_Z1H_IN] if az < z0h else p[C17_Z1H_OUT]
        q = (az - z0h) / z1
        lor = 1.0 / (1.0 + q * q)
        wh = hs * p[C17_BH0] * lor * math.exp(1.0 - r / r0h) / r0h
        w += wh
        w_r -= wh / r0h
        w_z += sg * wh * (-2.0 * q * lor / z1)

    ax = x * u_r - y * w_r
    ay = y * u_r + x * w_r
    return (u * x - w * y, u * y + w * x, bz,
            u + ax * cx, w + ay * cx, bz_r * cx,
            -w + ax * cy, u + ay * cy, bz_r * cy,
            x * u_z - y * w_z, y * u_z + x * w_z, bz_z)
