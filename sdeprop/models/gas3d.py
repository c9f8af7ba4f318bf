"""Interstellar gas in three dimensions for gamma-ray sky maps: n_HI, n_H2, n_HII [cm⁻³] at (x, y, z).

Frame (docs/physics.md §0): Galactocentric, right-handed, kpc, the Sun on the −x axis, z to the
north Galactic pole, azimuth φ = atan2(y, x) (the Sun at φ = 180°).  n_H2 counts **molecules**,
so the density of hydrogen nuclei is n_HI + 2 n_H2 + n_HII (docs/physics.md §5).

Models (integer kind codes, the numba-callable :func:`gas_components` dispatches on them; the
formulas, sources and checks are in docs/gas.md):

* ``GAS_GALPROP``: the GALPROP analytic (R, z) model of :mod:`sdeprop.models.gas`, unchanged;
  ``params`` is the array of :func:`sdeprop.models.gas.build_gas`.
* ``GAS_NAKANISHI_SOFUE``: the fits of Nakanishi & Sofue 2003 (HI) and 2006 (H2) as parametrised
  in docs/physics.md §5.2, with the Cordes et al. 1991 HII of :mod:`sdeprop.models.gas`;
  ``params`` = [scale_HI, scale_H2, scale_HII].
* ``GAS_SPIRAL_ARMS``: a base model (GALPROP or NS) whose density at every (R, z) is redistributed
  in azimuth onto the four logarithmic arms of Steiman-Cameron et al. 2010, conserving the
  azimuthal mean exactly (so the radial profile and the mass of the base model are kept).
* ``GAS_GRID_CARTESIAN``, ``GAS_GRID_CYLINDRICAL``: trilinear interpolation in a user cube
  (three components on uniform axes (x, y, z) or (R, φ, z), φ periodic), zero outside.

``grid`` is always a float64 array of shape (3, n0, n1, n2) (HI, H2 molecules, HII); the analytic
models take the dummy ``np.zeros((3, 1, 1, 1))`` (:data:`NO_GRID`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from ..units import KPC_CM
from . import gas as galprop_gas

GAS_GALPROP = 0
GAS_NAKANISHI_SOFUE = 1
GAS_SPIRAL_ARMS = 2
GAS_GRID_CARTESIAN = 3
GAS_GRID_CYLINDRICAL = 4
GAS_KIND_NAMES = {
    GAS_GALPROP: "galprop",
    GAS_NAKANISHI_SOFUE: "nakanishi_sofue",
    GAS_SPIRAL_ARMS: "spiral_arms",
    GAS_GRID_CARTESIAN: "grid_cartesian",
    GAS_GRID_CYLINDRICAL: "grid_cylindrical",
}

_LN2 = math.log(2.0)
_TWO_PI = 2.0 * math.pi
_SQRT_PI = math.sqrt(math.pi)

SOLAR_MASS_G = 1.98841e33
"""One solar mass in g (IAU 2015 nominal GM⊙ / G)."""
HYDROGEN_ATOM_MASS_G = 1.6735575e-24
"""Hydrogen-atom mass m_H in g (docs/physics.md §0.1)."""

# --------------------------------------------------------------------------- Nakanishi & Sofue
NS_N_PARAMS = 3  # [scale_HI, scale_H2, scale_HII]


@njit(cache=True, error_model="numpy")
def ns_hi_midplane(R):
    """Mid-plane HI density [cm⁻³] at R [kpc]: Nakanishi & Sofue 2003 (PASJ 55, 191) fit as
    parametrised in arXiv:1607.07886 (docs/physics.md §5.2):
    0.94 [0.6 e^{−R/2.4} + 0.24 e^{−((R−9.5)/4.8)²}]."""
    b = (R - 9.5) / 4.8
    return 0.94 * (0.6 * math.exp(-R / 2.4) + 0.24 * math.exp(-b * b))


@njit(cache=True, error_model="numpy")
def ns_hi_hwhm_kpc(R):
    """HWHM of the HI layer [kpc] at R [kpc] (Nakanishi & Sofue 2003; docs/physics.md §5.2):
    1.06 (116.3 + 19.3 R + 4.1 R² − 0.05 R³) pc."""
    return 1.06e-3 * (116.3 + 19.3 * R + 4.1 * R * R - 0.05 * R * R * R)


@njit(cache=True, error_model="numpy")
def ns_h2_midplane(R):
    """Mid-plane H2 density [molecules cm⁻³] at R [kpc]: Nakanishi & Sofue 2006 (PASJ 58, 847) fit
    (docs/physics.md §5.2): 0.94 [11.2 e^{−R²/0.874} + 0.83 e^{−((R−4)/3.2)²}]."""
    b = (R - 4.0) / 3.2
    return 0.94 * (11.2 * math.exp(-R * R / 0.874) + 0.83 * math.exp(-b * b))


@njit(cache=True, error_model="numpy")
def ns_h2_hwhm_kpc(R):
    """HWHM of the H2 layer [kpc] at R [kpc] (Nakanishi & Sofue 2006; docs/physics.md §5.2):
    1.06 (10.8 e^{0.28 R} + 42.78) pc."""
    return 1.06e-3 * (10.8 * math.exp(0.28 * R) + 42.78)


@njit(cache=True, error_model="numpy")
def ns_components(p, R, z):
    """(n_HI, n_H2 [molecules], n_HII) [cm⁻³] of the Nakanishi & Sofue model at R, z [kpc]:
    n(R, z) = n₀(R) 2^{−(z/h(R))²} for HI and H2 (docs/physics.md §5.2), Cordes et al. 1991 HII."""
    a = z / ns_hi_hwhm_kpc(R)
    b = z / ns_h2_hwhm_kpc(R)
    return (
        p[0] * ns_hi_midplane(R) * math.exp(-_LN2 * a * a),
        p[1] * ns_h2_midplane(R) * math.exp(-_LN2 * b * b),
        p[2] * galprop_gas.n_HII_cordes91(R, z),
    )


# --------------------------------------------------------------------------- spiral arms
# Steiman-Cameron, Wolfire & Hollenbach 2010 (ApJ 722, 1460), the four-arm fit to COBE/FIRAS
# [C II] and [N II]: arm centre θ(R) = ln(R/a)/α in their frame (the Sun at θ = 90°), where
# α = tan(pitch).  Names follow where each arm crosses the Sun–GC line (docs/gas.md §3).
STEIMAN_CAMERON_ARMS = (
    # name, a [kpc], α = tan(pitch), pitch [deg] as listed with the fit
    ("Sagittarius-Carina", 0.246, 0.242, 13.6),
    ("Scutum-Crux", 0.608, 0.279, 15.6),
    ("Norma-Cygnus (Outer)", 0.449, 0.249, 13.5),
    ("Perseus", 0.378, 0.240, 13.5),
)
STEIMAN_CAMERON_WIDTH_DEG = 15.0
"""δ of the azimuthal arm profile exp(−Δφ²/δ²) (standard deviation δ/√2 ≈ 10.6°)."""
STEIMAN_CAMERON_FRAME_ROTATION = 0.5 * math.pi
"""φ (standard frame, Sun at φ = 180°) = θ (Steiman-Cameron frame, Sun at θ = 90°) + 90°."""

N_ARMS = 4
SPIRAL_BASE_KIND = 0
SPIRAL_CONTRAST_HI = 1
SPIRAL_CONTRAST_H2 = 2
SPIRAL_CONTRAST_HII = 3
SPIRAL_WIDTH_RAD = 4
SPIRAL_R_INNER = 5
SPIRAL_R_RAMP = 6
SPIRAL_ROTATION = 7
SPIRAL_ARMS = 8  # N_ARMS × (a [kpc], α, weight)
SPIRAL_BASE = SPIRAL_ARMS + 3 * N_ARMS  # the base model's parameters from here on
SPIRAL_N_PARAMS = SPIRAL_BASE + max(galprop_gas.N_GAS_PARAMS, NS_N_PARAMS)


@njit(cache=True, error_model="numpy")
def arm_centre_azimuth(R, a, alpha, rotation):
    """Azimuth φ [rad, standard frame, not wrapped] of a logarithmic arm's centre at R [kpc]:
    φ = ln(R/a)/α + rotation (Steiman-Cameron et al. 2010; rotation = 90° for their frame)."""
    return math.log(R / a) / alpha + rotation


@njit(cache=True, error_model="numpy")
def wrap_angle(d):
    """d [rad] wrapped to [−π, π)."""
    return d - _TWO_PI * math.floor((d + math.pi) / _TWO_PI)


@njit(cache=True, error_model="numpy")
def arm_radial_offset_kpc(x, y, a, alpha, rotation):
    """R − R_arm [kpc] at (x, y): the signed offset along the radius from the nearest crossing of a
    logarithmic arm (R_arm(φ) = a e^{α(φ − rotation + 2πk)}) with the ray of azimuth φ through the
    point; positive outside the arm.  The perpendicular distance is |offset| cos(atan α)."""
    R = math.sqrt(x * x + y * y)
    phi = math.atan2(y, x)
    # winding k whose crossing lies nearest in ln R: α(φ − rot + 2πk) ≈ ln(R/a)
    base = alpha * (phi - rotation)
    kf = (math.log(R / a) - base) / (alpha * _TWO_PI)
    k0 = math.floor(kf)
    inner = R - a * math.exp(base + alpha * _TWO_PI * k0)  # >= 0: the crossing at or inside R
    outer = R - a * math.exp(base + alpha * _TWO_PI * (k0 + 1.0))  # < 0: the next one outside
    return inner if inner <= -outer else outer


@njit(cache=True, error_model="numpy")
def arm_distance_kpc(x, y, a, alpha, rotation):
    """Approximate perpendicular distance [kpc] from (x, y) to a logarithmic arm: the radial offset
    (:func:`arm_radial_offset_kpc`) times cos(pitch), exact to first order in offset/R."""
    return abs(arm_radial_offset_kpc(x, y, a, alpha, rotation)) / math.sqrt(1.0 + alpha * alpha)


@njit(cache=True, error_model="numpy")
def arm_azimuthal_profile(p, R, phi):
    """G(R, φ) = Σ_arms w_i Σ_k exp(−(φ − φ_i(R) + 2πk)²/δ²): the wrapped Gaussian arm profile of
    Steiman-Cameron et al. 2010 (their azimuthal exp(−Δθ²/δ²)); its azimuthal mean is
    Σ w_i δ / (2√π) at every R (the wrapped Gaussian integrates to δ√π over one turn)."""
    width = p[SPIRAL_WIDTH_RAD]
    rot = p[SPIRAL_ROTATION]
    total = 0.0
    for i in range(N_ARMS):
        a = p[SPIRAL_ARMS + 3 * i]
        alpha = p[SPIRAL_ARMS + 3 * i + 1]
        w = p[SPIRAL_ARMS + 3 * i + 2]
        d = wrap_angle(phi - arm_centre_azimuth(R, a, alpha, rot))
        for k in range(-1, 2):  # k = ±1 matter only for δ ≳ 60° (error < e^{−(3π/δ)²} beyond)
            u = (d + _TWO_PI * k) / width
            total += w * math.exp(-u * u)
    return total


@njit(cache=True, error_model="numpy")
def arm_profile_mean(p):
    """Azimuthal mean of :func:`arm_azimuthal_profile`: Σ w_i δ / (2√π)."""
    wsum = 0.0
    for i in range(N_ARMS):
        wsum += p[SPIRAL_ARMS + 3 * i + 2]
    return wsum * p[SPIRAL_WIDTH_RAD] / (2.0 * _SQRT_PI)


@njit(cache=True, error_model="numpy")
def arm_modulation(contrast, ramp, g, g_mean):
    """Factor M = (1 + (C_eff − 1) G) / (1 + (C_eff − 1) ⟨G⟩) with C_eff = 1 + (C − 1) ramp; its
    azimuthal mean is exactly 1, and on an isolated arm's crest (G = 1) it is C_eff times its value
    far from every arm (G = 0)."""
    c1 = (contrast - 1.0) * ramp
    return (1.0 + c1 * g) / (1.0 + c1 * g_mean)


@njit(cache=True, error_model="numpy")
def spiral_ramp(p, R):
    """0 inside R_inner, rising linearly to 1 over R_ramp kpc: the arms fade out towards the centre,
    where the logarithmic spirals wind ever tighter (Steiman-Cameron et al. fit R ≳ 3 kpc)."""
    r0 = p[SPIRAL_R_INNER]
    dr = p[SPIRAL_R_RAMP]
    if R <= r0:
        return 0.0
    if dr <= 0.0 or R >= r0 + dr:
        return 1.0
    return (R - r0) / dr


@njit(cache=True, error_model="numpy")
def axisymmetric_components(kind, p, R, z):
    """(n_HI, n_H2, n_HII) [cm⁻³] of an axisymmetric analytic model (GALPROP or NS) at R, z [kpc]."""
    if kind == GAS_NAKANISHI_SOFUE:
        return ns_components(p, R, z)
    return (
        p[2] * galprop_gas.n_HI_galprop(R, z),
        p[3] * galprop_gas.n_H2_galprop(R, z, int(p[0]), p[1]),
        p[4] * galprop_gas.n_HII_cordes91(R, z),
    )


@njit(cache=True, error_model="numpy")
def spiral_components(p, x, y, z):
    """(n_HI, n_H2, n_HII) [cm⁻³]: the base model times the arm modulation of each component
    (:func:`arm_modulation`); the azimuthal mean at each (R, z) is the base model's density."""
    R = math.sqrt(x * x + y * y)
    base = p[SPIRAL_BASE:]
    n_hi, n_h2, n_hii = axisymmetric_components(int(p[SPIRAL_BASE_KIND]), base, R, z)
    ramp = spiral_ramp(p, R)
    if ramp <= 0.0:
        return n_hi, n_h2, n_hii
    g = arm_azimuthal_profile(p, R, math.atan2(y, x))
    g_mean = arm_profile_mean(p)
    return (
        n_hi * arm_modulation(p[SPIRAL_CONTRAST_HI], ramp, g, g_mean),
        n_h2 * arm_modulation(p[SPIRAL_CONTRAST_H2], ramp, g, g_mean),
        n_hii * arm_modulation(p[SPIRAL_CONTRAST_HII], ramp, g, g_mean),
    )


# --------------------------------------------------------------------------- gridded cubes
GRID_N_PARAMS = 9  # per axis k: [lo_k, 1/spacing_k, n_k]
NO_GRID = np.zeros((3, 1, 1, 1))


@njit(cache=True, error_model="numpy")
def _cell(u, lo, inv_step, n, periodic):
    """(index i0, weight t, inside) of coordinate u on a uniform axis of n nodes lo + i/inv_step;
    a periodic axis of n nodes spans one full turn, node n ≡ node 0."""
    s = (u - lo) * inv_step
    if periodic:
        s = s - n * math.floor(s / n)
        i0 = int(s)
        if i0 >= n:  # s == n after round-off
            i0 = n - 1
        return i0, s - i0, True
    if n == 1:
        return 0, 0.0, abs(s) <= 1e-12
    if s < 0.0 or s > n - 1:
        return 0, 0.0, False
    i0 = int(s)
    if i0 > n - 2:
        i0 = n - 2
    return i0, s - i0, True


@njit(cache=True, error_model="numpy")
def grid_components(p, grid, u0, u1, u2, periodic1):
    """Trilinear interpolation of the three components of ``grid`` at axis coordinates (u0, u1, u2);
    zero outside.  ``periodic1``: axis 1 is an azimuth (a single node means no φ dependence)."""
    n0 = grid.shape[1]
    n1 = grid.shape[2]
    n2 = grid.shape[3]
    i, ti, ok0 = _cell(u0, p[0], p[1], n0, False)
    if not ok0:
        return 0.0, 0.0, 0.0
    if periodic1:
        j, tj, ok1 = _cell(u1, p[3], p[4], n1, True)
    else:
        j, tj, ok1 = _cell(u1, p[3], p[4], n1, False)
    if not ok1:
        return 0.0, 0.0, 0.0
    k, tk, ok2 = _cell(u2, p[6], p[7], n2, False)
    if not ok2:
        return 0.0, 0.0, 0.0
    i1 = i + 1 if n0 > 1 else i
    if periodic1:
        j1 = (j + 1) % n1
    else:
        j1 = j + 1 if n1 > 1 else j
    k1 = k + 1 if n2 > 1 else k
    out0 = 0.0
    out1 = 0.0
    out2 = 0.0
    for c in range(3):
        c00 = grid[c, i, j, k] * (1.0 - tk) + grid[c, i, j, k1] * tk
        c01 = grid[c, i, j1, k] * (1.0 - tk) + grid[c, i, j1, k1] * tk
        c10 = grid[c, i1, j, k] * (1.0 - tk) + grid[c, i1, j, k1] * tk
        c11 = grid[c, i1, j1, k] * (1.0 - tk) + grid[c, i1, j1, k1] * tk
        c0 = c00 * (1.0 - tj) + c01 * tj
        c1 = c10 * (1.0 - tj) + c11 * tj
        v = c0 * (1.0 - ti) + c1 * ti
        if c == 0:
            out0 = v
        elif c == 1:
            out1 = v
        else:
            out2 = v
    return out0, out1, out2


# --------------------------------------------------------------------------- dispatch
@njit(cache=True, error_model="numpy")
def gas_components(kind, params, grid, x, y, z):
    """(n_HI, n_H2 [molecules], n_HII) [cm⁻³] of gas model ``kind`` at (x, y, z) [kpc]."""
    if kind == GAS_GALPROP:
        return galprop_gas.gas_densities(params, x, y, z)
    if kind == GAS_NAKANISHI_SOFUE:
        return ns_components(params, math.sqrt(x * x + y * y), z)
    if kind == GAS_SPIRAL_ARMS:
        return spiral_components(params, x, y, z)
    if kind == GAS_GRID_CARTESIAN:
        return grid_components(params, grid, x, y, z, False)
    if kind == GAS_GRID_CYLINDRICAL:
        return grid_components(params, grid, math.sqrt(x * x + y * y), math.atan2(y, x), z, True)
    return 0.0, 0.0, 0.0


@njit(cache=True, error_model="numpy")
def hydrogen_nuclei(kind, params, grid, x, y, z):
    """Density of hydrogen nuclei n_HI + 2 n_H2 + n_HII [cm⁻³] at (x, y, z) [kpc] (docs/physics.md §5)."""
    a, b, c = gas_components(kind, params, grid, x, y, z)
    return a + 2.0 * b + c


@njit(cache=True)
def _evaluate_many(kind, params, grid, pts):
    out = np.empty((pts.shape[0], 3))
    for m in range(pts.shape[0]):
        a, b, c = gas_components(kind, params, grid, pts[m, 0], pts[m, 1], pts[m, 2])
        out[m, 0] = a
        out[m, 1] = b
        out[m, 2] = c
    return out


# --------------------------------------------------------------------------- Python layer
@dataclass
class GasModel:
    """A gas model ready for the numba functions: ``gas_components(kind, params, grid, x, y, z)``.

    ``grid`` is (3, n0, n1, n2) float64 (HI, H2 molecules, HII) for the grid kinds and
    :data:`NO_GRID` for the analytic ones.  ``axes`` keeps the node coordinates of a grid
    (names → 1D arrays) for writing it back; ``meta`` free-form strings (source, file)."""

    name: str
    kind: int
    params: np.ndarray
    grid: np.ndarray = field(default_factory=lambda: NO_GRID.copy())
    axes: dict | None = None
    meta: dict = field(default_factory=dict)

    def evaluate(self, points_kpc) -> np.ndarray:
        """(n_HI, n_H2, n_HII) [cm⁻³], shape (n, 3), at the rows (x, y, z) [kpc] of ``points_kpc``."""
        pts = np.atleast_2d(np.asarray(points_kpc, dtype=float))
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise ValueError(f"points_kpc must have shape (n, 3), got {np.shape(points_kpc)}")
        return _evaluate_many(self.kind, self.params, self.grid, np.ascontiguousarray(pts))

    def hydrogen_nuclei(self, points_kpc) -> np.ndarray:
        """n_HI + 2 n_H2 + n_HII [cm⁻³], shape (n,), at the rows of ``points_kpc``."""
        n = self.evaluate(points_kpc)
        return n[:, 0] + 2.0 * n[:, 1] + n[:, 2]


def _check_scales(**scales):
    for key, value in scales.items():
        if not (np.isfinite(value) and value >= 0.0):
            raise ValueError(f"{key}={value!r} is not allowed: a gas scale must be finite and >= 0")


def _base_params(base: str, base_options: dict) -> tuple[int, np.ndarray]:
    if base == "galprop":
        return GAS_GALPROP, galprop_gas.build_gas(**base_options)
    if base == "nakanishi_sofue":
        return GAS_NAKANISHI_SOFUE, nakanishi_sofue_params(**base_options)
    raise ValueError(
        f"base={base!r} is not allowed: the spiral model's base is 'galprop' or 'nakanishi_sofue'"
    )


def nakanishi_sofue_params(
    scale_HI: float = 1.0, scale_H2: float = 1.0, scale_HII: float = 1.0
) -> np.ndarray:
    """Parameter array of the Nakanishi & Sofue model: [scale_HI, scale_H2, scale_HII]."""
    _check_scales(scale_HI=scale_HI, scale_H2=scale_H2, scale_HII=scale_HII)
    return np.array([scale_HI, scale_H2, scale_HII], dtype=float)


def spiral_params(
    base: str = "nakanishi_sofue",
    *,
    arm_contrast: float = 3.0,
    arm_contrast_H2: float | None = None,
    arm_contrast_HII: float = 1.0,
    width_deg: float = STEIMAN_CAMERON_WIDTH_DEG,
    arm_weights=(1.0, 1.0, 1.0, 1.0),
    inner_radius_kpc: float = 3.0,
    ramp_kpc: float = 1.0,
    rotation_deg: float = 0.0,
    **base_options,
) -> np.ndarray:
    """Parameter array of the spiral-arm model (layout: the SPIRAL_* indices of this module).

    ``arm_contrast`` C (≥ 1): density on an isolated arm's crest over the density far from every
    arm, for HI (and H2 unless ``arm_contrast_H2`` is given); ``arm_contrast_HII`` likewise for
    HII (default 1: Cordes et al. 1991 stays axisymmetric).  ``width_deg``: δ of the azimuthal
    profile exp(−Δφ²/δ²), 0 < δ ≤ 90°.  ``arm_weights``: four weights ≥ 0 (Sagittarius–Carina,
    Scutum–Crux, Norma–Cygnus, Perseus), not all zero.  The arms fade in linearly from
    ``inner_radius_kpc`` over ``ramp_kpc``.  ``rotation_deg`` turns the whole pattern about the z
    axis (counter-clockwise seen from the north Galactic pole; 0: the published orientation).
    Further keywords go to the base model's builder.
    """
    kind, bp = _base_params(base, base_options)
    contrast_h2 = arm_contrast if arm_contrast_H2 is None else arm_contrast_H2
    for key, value in (
        ("arm_contrast", arm_contrast),
        ("arm_contrast_H2", contrast_h2),
        ("arm_contrast_HII", arm_contrast_HII),
    ):
        if not (np.isfinite(value) and value >= 1.0):
            raise ValueError(
                f"{key}={value!r} is not allowed: an arm/interarm contrast must be >= 1 (1: no arms)"
            )
    if not (np.isfinite(width_deg) and 0.0 < width_deg <= 90.0):
        raise ValueError(
            f"width_deg={width_deg!r} is not allowed: the arm width δ must lie in (0, 90] degrees"
        )
    weights = np.asarray(arm_weights, dtype=float)
    if (
        weights.shape != (N_ARMS,)
        or not np.all(np.isfinite(weights))
        or np.any(weights < 0)
        or weights.sum() <= 0
    ):
        raise ValueError(
            f"arm_weights={arm_weights!r} is not allowed: give {N_ARMS} finite weights >= 0, not all zero"
        )
    for key, value in (("inner_radius_kpc", inner_radius_kpc), ("ramp_kpc", ramp_kpc)):
        if not (np.isfinite(value) and value >= 0.0):
            raise ValueError(f"{key}={value!r} is not allowed: it must be finite and >= 0")
    if not np.isfinite(rotation_deg):
        raise ValueError(f"rotation_deg={rotation_deg!r} is not allowed: it must be finite")
    p = np.zeros(SPIRAL_N_PARAMS)
    p[SPIRAL_BASE_KIND] = kind
    p[SPIRAL_CONTRAST_HI] = arm_contrast
    p[SPIRAL_CONTRAST_H2] = contrast_h2
    p[SPIRAL_CONTRAST_HII] = arm_contrast_HII
    p[SPIRAL_WIDTH_RAD] = math.radians(width_deg)
    p[SPIRAL_R_INNER] = inner_radius_kpc
    p[SPIRAL_R_RAMP] = ramp_kpc
    p[SPIRAL_ROTATION] = STEIMAN_CAMERON_FRAME_ROTATION + math.radians(rotation_deg)
    for i, (_, a, alpha, _pitch) in enumerate(STEIMAN_CAMERON_ARMS):
        p[SPIRAL_ARMS + 3 * i : SPIRAL_ARMS + 3 * i + 3] = (a, alpha, weights[i])
    p[SPIRAL_BASE : SPIRAL_BASE + bp.size] = bp
    return p


ANALYTIC_MODELS = ("galprop", "nakanishi_sofue", "spiral_arms")


def build_gas_model(name: str, **options) -> GasModel:
    """An analytic gas model by name: "galprop" (options of :func:`sdeprop.models.gas.build_gas`),
    "nakanishi_sofue" (scale_HI, scale_H2, scale_HII) or "spiral_arms" (base=..., arm_contrast=...,
    width_deg=..., see :func:`spiral_params`).  Gridded models come from ``sdeprop.io.read_gas_cube``
    or :func:`grid_gas_model`."""
    if name == "galprop":
        return GasModel(name, GAS_GALPROP, galprop_gas.build_gas(**options))
    if name == "nakanishi_sofue":
        return GasModel(name, GAS_NAKANISHI_SOFUE, nakanishi_sofue_params(**options))
    if name == "spiral_arms":
        return GasModel(name, GAS_SPIRAL_ARMS, spiral_params(**options))
    raise ValueError(f"gas model name={name!r} is not allowed; choose from {list(ANALYTIC_MODELS)}")


def uniform_axis_params(axis: np.ndarray, name: str, periodic: bool = False) -> tuple[float, float, int]:
    """(lo, 1/spacing, n) of a uniform, increasing axis; ValueError names the axis and the problem.
    A periodic (azimuth) axis of n nodes must span a full turn: n × spacing = 2π (one node: no φ
    dependence)."""
    axis = np.asarray(axis, dtype=float)
    if axis.ndim != 1 or axis.size < 1:
        raise ValueError(f"axis {name} must be a 1D array with at least one node, got shape {axis.shape}")
    if not np.all(np.isfinite(axis)):
        raise ValueError(f"axis {name} contains NaN or inf")
    if axis.size == 1:
        if not periodic:
            raise ValueError(f"axis {name} needs at least 2 nodes (only an azimuth axis may have one)")
        return float(axis[0]), 0.0, 1
    step = np.diff(axis)
    if np.any(step <= 0.0):
        raise ValueError(
            f"axis {name} is not strictly increasing (first bad step at index {int(np.argmax(step <= 0))})"
        )
    if not np.allclose(step, step[0], rtol=1e-6, atol=0.0):
        worst = int(np.argmax(np.abs(step - step[0])))
        raise ValueError(
            f"axis {name} is not uniform: step {step[worst]:.6g} at index {worst} differs from "
            f"the first step {step[0]:.6g}"
        )
    if periodic and abs(axis.size * step[0] - 2.0 * math.pi) > 1e-6 * 2.0 * math.pi:
        raise ValueError(
            f"axis {name} is periodic: its {axis.size} nodes must span a full turn, n × spacing = 2π "
            f"(got {axis.size * step[0]:.6g}); do not repeat the node at φ₀ + 2π"
        )
    return float(axis[0]), 1.0 / float(step[0]), int(axis.size)


def grid_gas_model(name: str, geometry: str, axes, densities, meta: dict | None = None) -> GasModel:
    """A gridded gas model from node axes and densities.

    ``geometry`` "cartesian" (axes x, y, z [kpc]) or "cylindrical" (axes R [kpc], φ [rad], z [kpc]);
    ``axes`` three 1D arrays in that order; ``densities`` (n_HI, n_H2 molecules, n_HII) [cm⁻³], each
    of shape (n0, n1, n2), finite and ≥ 0.  ValueError names the bad input."""
    if geometry not in ("cartesian", "cylindrical"):
        raise ValueError(f"geometry={geometry!r} is not allowed: choose 'cartesian' or 'cylindrical'")
    names = ("x_kpc", "y_kpc", "z_kpc") if geometry == "cartesian" else ("R_kpc", "phi_rad", "z_kpc")
    axes = [np.asarray(a, dtype=float) for a in axes]
    if len(axes) != 3:
        raise ValueError(f"axes must be three 1D arrays ({', '.join(names)}), got {len(axes)}")
    p = np.zeros(GRID_N_PARAMS)
    for k, (axis, nm) in enumerate(zip(axes, names)):
        p[3 * k : 3 * k + 3] = uniform_axis_params(axis, nm, periodic=(geometry == "cylindrical" and k == 1))
    if geometry == "cylindrical" and axes[0][0] < 0.0:
        raise ValueError(f"axis R_kpc starts at {axes[0][0]!r}: a radius cannot be negative")
    shape = tuple(a.size for a in axes)
    grid = np.empty((3, *shape))
    for c, (label, d) in enumerate(zip(("n_HI", "n_H2", "n_HII"), densities)):
        d = np.asarray(d, dtype=float)
        if d.shape != shape:
            raise ValueError(f"{label} has shape {d.shape}, expected {shape} from the axes")
        check_densities(d, label)
        grid[c] = d
    kind = GAS_GRID_CARTESIAN if geometry == "cartesian" else GAS_GRID_CYLINDRICAL
    return GasModel(name, kind, p, grid, dict(zip(names, axes)), dict(meta or {}))


def check_densities(d: np.ndarray, label: str):
    """ValueError naming ``label`` when ``d`` has NaN/inf or negative values (with the first index)."""
    bad = ~np.isfinite(d)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{label} contains {int(bad.sum())} NaN/inf values (first at index {idx})")
    neg = d < 0.0
    if neg.any():
        idx = tuple(int(i) for i in np.argwhere(neg)[0])
        raise ValueError(
            f"{label} contains {int(neg.sum())} negative densities (first {d[idx]:.4g} cm⁻³ at index {idx})"
        )


def gas_mass_msun(model: GasModel, r_max_kpc=15.0, z_max_kpc=1.0, n_r=150, n_phi=72, n_z=200) -> dict:
    """Masses [M⊙] of HI, H2 and HII (hydrogen only, no helium) in R < r_max, |z| < z_max by the
    midpoint rule on an (R, φ, z) grid: M = m_H ∫ n dV (2 m_H for H2 molecules)."""
    dr = r_max_kpc / n_r
    dphi = 2.0 * math.pi / n_phi
    dz = 2.0 * z_max_kpc / n_z
    r = (np.arange(n_r) + 0.5) * dr
    phi = (np.arange(n_phi) + 0.5) * dphi
    z = -z_max_kpc + (np.arange(n_z) + 0.5) * dz
    R, P, Z = np.meshgrid(r, phi, z, indexing="ij")
    pts = np.column_stack([(R * np.cos(P)).ravel(), (R * np.sin(P)).ravel(), Z.ravel()])
    n = model.evaluate(pts)
    dv_cm3 = (R.ravel() * dr * dphi * dz)[:, None] * KPC_CM**3
    counts = (n * dv_cm3).sum(axis=0)
    to_msun = HYDROGEN_ATOM_MASS_G / SOLAR_MASS_G
    return {"HI": counts[0] * to_msun, "H2": 2.0 * counts[1] * to_msun, "HII": counts[2] * to_msun}


def tabulate_gas(model: GasModel, geometry: str, axes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n_HI, n_H2, n_HII) [cm⁻³] of ``model`` at the nodes of a grid, each of shape (n0, n1, n2):
    ``geometry`` "cartesian" (axes x, y, z [kpc]) or "cylindrical" (R [kpc], φ [rad], z [kpc])."""
    a0, a1, a2 = (np.asarray(a, dtype=float) for a in axes)
    U0, U1, U2 = np.meshgrid(a0, a1, a2, indexing="ij")
    if geometry == "cartesian":
        pts = np.column_stack([U0.ravel(), U1.ravel(), U2.ravel()])
    elif geometry == "cylindrical":
        pts = np.column_stack([(U0 * np.cos(U1)).ravel(), (U0 * np.sin(U1)).ravel(), U2.ravel()])
    else:
        raise ValueError(f"geometry={geometry!r} is not allowed: choose 'cartesian' or 'cylindrical'")
    n = model.evaluate(pts)
    shape = U0.shape
    return n[:, 0].reshape(shape), n[:, 1].reshape(shape), n[:, 2].reshape(shape)
