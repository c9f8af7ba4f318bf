"""GALPROP analytic interstellar gas model: n_HI, n_H2, n_HII [cm⁻³] at (R, z).

Transcribed from docs/physics.md §5.1, which follows DRAGON ``gas.cc`` (``TGas::nHI_Gal``,
``nH2_Gal``, ``nHII_Gal``, ``X_CO``; commit listed in docs/physics.md §10); the interpolation rules
below were re-checked against that file.  R and z in kpc (R = √(x² + y²), Galactocentric).

* **HI** (``n_HI_galprop``): radial table of Gordon & Burton 1976 (values attributed to bin
  mid-points, linear between them, flat 0.10 cm⁻³ inside the first mid-point R = 1 kpc,
  0.06 exp[−(R − 15.75)/3] beyond 15.75 kpc) times the vertical profile of Dickey & Lockman
  1990 (R ≤ 8) / Cox et al. 1986 (R ≥ 10), blended linearly for 8 < R < 10; divided by the
  Gordon & Burton disc density 0.33 cm⁻³.
* **H2** (``n_H2_galprop``), **molecules** cm⁻³ (not 2 n_H2, docs/physics.md §5 convention): the
  CO emissivity, mid-plane and HWHM of Bronfman et al. 1988 Table 3, interpolated linearly in R,
  times X_CO, divided by 1 kpc in cm; zero for R > 10.25 kpc.  X_CO options (units 10²⁰ cm⁻²
  (K km s⁻¹)⁻¹): ``SM96`` (Strong & Mattox 1996, 1.9), ``galprop_2004``, ``galprop_2010``
  (step functions in R, so n_H2 jumps at their steps) and ``constant``.
* **HII** (``n_HII_cordes91``): Cordes et al. 1991 two-disc model (T_e = 10⁴ K).

The hydrogen-nucleus density is n_HI + 2 n_H2 + n_HII (docs/physics.md §5).

Parameter layout (float64): ``[xco_mode, xco_value, scale_HI, scale_H2, scale_HII]``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..units import KPC_CM

XCO_SM96 = 0
XCO_GALPROP_2004 = 1
XCO_GALPROP_2010 = 2
XCO_CONSTANT = 3
_XCO_MODES = {
    "SM96": XCO_SM96,
    "galprop_2004": XCO_GALPROP_2004,
    "galprop_2010": XCO_GALPROP_2010,
    "constant": XCO_CONSTANT,
}
N_GAS_PARAMS = 5

_LN2 = math.log(2.0)

# --- HI: Gordon & Burton 1976 (docs/physics.md §5.1); Y_k belongs to the mid-point of [R_k, R_k+1]
_HI_R_EDGE = np.array(
    [
        0.0,
        2.0,
        2.5,
        3.0,
        3.5,
        4.0,
        4.5,
        5.0,
        5.5,
        6.0,
        6.5,
        7.0,
        7.5,
        8.0,
        8.5,
        9.0,
        9.5,
        10.0,
        10.5,
        11.0,
        11.5,
        12.0,
        12.5,
        13.0,
        13.5,
        14.0,
        14.5,
        15.0,
        15.5,
        16.0,
    ]
)
_HI_Y = np.array(
    [
        0.10,
        0.13,
        0.14,
        0.16,
        0.19,
        0.25,
        0.30,
        0.33,
        0.32,
        0.31,
        0.30,
        0.37,
        0.38,
        0.36,
        0.32,
        0.29,
        0.38,
        0.40,
        0.25,
        0.23,
        0.32,
        0.36,
        0.32,
        0.25,
        0.16,
        0.10,
        0.09,
        0.08,
        0.06,
        0.00,
    ]
)
_HI_MID = 0.5 * (_HI_R_EDGE[:-1] + _HI_R_EDGE[1:])  # 29 mid-points 1.0 … 15.75
_HI_YMID = _HI_Y[:-1].copy()
_HI_N_GB = 0.33  # cm^-3, Gordon & Burton 4-8 kpc disc density
_HI_N_DL = 0.57  # cm^-3, Dickey & Lockman mid-plane density (Cox et al. 1986 profile)

# --- H2: Bronfman et al. 1988 Table 3 (docs/physics.md §5.1)
_H2_R = np.array(
    [
        0.00,
        2.25,
        2.75,
        3.25,
        3.75,
        4.25,
        4.75,
        5.25,
        5.75,
        6.25,
        6.75,
        7.25,
        7.75,
        8.25,
        8.75,
        9.25,
        9.75,
        10.25,
    ]
)
_H2_EPS_CO = np.array(
    [0.0, 1.5, 3.3, 5.8, 5.5, 8.4, 9.0, 9.6, 8.6, 9.1, 7.9, 9.2, 7.7, 5.0, 3.6, 4.8, 1.7, 0.0]
)  # K km s^-1 kpc^-1
_H2_Z0 = np.array(
    [
        0.039,
        0.039,
        0.036,
        0.000,
        -0.008,
        0.001,
        -0.010,
        -0.001,
        -0.004,
        -0.019,
        -0.022,
        -0.014,
        -0.009,
        -0.004,
        0.013,
        -0.004,
        -0.020,
        -0.020,
    ]
)  # kpc
_H2_ZH = np.array(
    [
        0.077,
        0.077,
        0.080,
        0.061,
        0.065,
        0.071,
        0.072,
        0.082,
        0.083,
        0.073,
        0.063,
        0.058,
        0.072,
        0.080,
        0.066,
        0.023,
        0.147,
        0.147,
    ]
)  # kpc, HWHM


@njit(cache=True, error_model="numpy")
def hi_radial_factor(R):
    """f_R(R) [cm⁻³] of the Gordon & Burton 1976 table (docs/physics.md §5.1)."""
    n = _HI_MID.shape[0]
    if R > _HI_MID[n - 1]:
        return _HI_YMID[n - 1] * math.exp(-(R - _HI_MID[n - 1]) / 3.0)
    if R <= _HI_MID[0]:
        return _HI_YMID[0]
    k = 0
    while R > _HI_MID[k + 1]:
        k += 1
    w = (R - _HI_MID[k]) / (_HI_MID[k + 1] - _HI_MID[k])
    return _HI_YMID[k] + w * (_HI_YMID[k + 1] - _HI_YMID[k])


@njit(cache=True, error_model="numpy")
def hi_vertical_factor(R, z):
    """f_Z(R, z) [cm⁻³]: Dickey & Lockman 1990 (R ≤ 8), Cox et al. 1986 (R ≥ 10), linear blend."""
    fz1 = 0.0
    fz2 = 0.0
    if R < 10.0:
        a = z / 0.106
        b = z / 0.265
        fz1 = (
            0.395 * math.exp(-_LN2 * a * a)
            + 0.107 * math.exp(-_LN2 * b * b)
            + 0.064 * math.exp(-abs(z) / 0.403)
        )
    if R > 8.0:
        h = z / (0.0523 * math.exp(0.11 * R))
        fz2 = _HI_N_DL * math.exp(-h * h)
    if R <= 8.0:
        return fz1
    if R >= 10.0:
        return fz2
    return fz1 + (fz2 - fz1) * 0.5 * (R - 8.0)


@njit(cache=True, error_model="numpy")
def n_HI_galprop(R, z):
    """Atomic hydrogen density n_HI [cm⁻³] at R, z [kpc] (GALPROP analytic, docs/physics.md §5.1)."""
    return hi_vertical_factor(R, z) * hi_radial_factor(R) / _HI_N_GB


@njit(cache=True, error_model="numpy")
def x_co(mode, value, R):
    """X_CO [10²⁰ cm⁻² (K km s⁻¹)⁻¹] at R [kpc] (DRAGON ``TGas::X_CO``, docs/physics.md §5.1)."""
    if mode == XCO_SM96:
        return 1.9
    if mode == XCO_GALPROP_2004:
        if R < 3.5:
            return 0.4
        if R < 5.5:
            return 0.6
        if R < 7.5:
            return 0.8
        if R < 9.5:
            return 1.5
        return 10.0
    if mode == XCO_GALPROP_2010:
        if R < 2.0:
            return 0.4
        if R < 7.5:
            return 1.5
        if R < 10.0:
            return 0.75
        if R < 12.0:
            return 5.0
        if R < 17.0:
            return 12.0
        if R < 19.0:
            return 60.0
        return 200.0
    return value


@njit(cache=True, error_model="numpy")
def n_H2_galprop(R, z, xco_mode, xco_value):
    """Molecular hydrogen density n_H2 [molecules cm⁻³] at R, z [kpc] (Bronfman et al. 1988).

    n_H2 = X_CO ε_CO(R) exp[−ln2 ((z − z₀(R))/z_h(R))²] / (1 kpc in cm), docs/physics.md §5.1.
    """
    n = _H2_R.shape[0]
    if R > _H2_R[n - 1] or R < 0.0:
        return 0.0
    k = 0
    while k < n - 2 and R > _H2_R[k + 1]:
        k += 1
    w = (R - _H2_R[k]) / (_H2_R[k + 1] - _H2_R[k])
    eps = _H2_EPS_CO[k] + w * (_H2_EPS_CO[k + 1] - _H2_EPS_CO[k])
    z0 = _H2_Z0[k] + w * (_H2_Z0[k + 1] - _H2_Z0[k])
    zh = _H2_ZH[k] + w * (_H2_ZH[k + 1] - _H2_ZH[k])
    a = (z - z0) / zh
    val = x_co(xco_mode, xco_value, R) * 1e20 * eps * math.exp(-_LN2 * a * a) / KPC_CM
    return val if val > 0.0 else 0.0


@njit(cache=True, error_model="numpy")
def n_HII_cordes91(R, z):
    """Ionised hydrogen (= free-electron) density n_HII [cm⁻³] at R, z [kpc] (Cordes et al. 1991)."""
    a = R / 20.0
    b = (R - 4.0) / 2.0
    return 0.025 * math.exp(-abs(z) / 1.0) * math.exp(-a * a) + 0.200 * math.exp(-abs(z) / 0.15) * math.exp(
        -b * b
    )


@njit(cache=True, error_model="numpy")
def gas_densities(p, x, y, z):
    """(n_HI, n_H2 [molecules], n_HII) [cm⁻³] at (x, y, z) [kpc] for the parameter array ``p``."""
    R = math.sqrt(x * x + y * y)
    return (
        p[2] * n_HI_galprop(R, z),
        p[3] * n_H2_galprop(R, z, int(p[0]), p[1]),
        p[4] * n_HII_cordes91(R, z),
    )


def build_gas(
    xco: str = "SM96",
    *,
    xco_value: float | None = None,
    scale_HI: float = 1.0,
    scale_H2: float = 1.0,
    scale_HII: float = 1.0,
) -> np.ndarray:
    """Build the float64 gas parameter array.

    ``xco`` is one of "SM96", "galprop_2004", "galprop_2010", "constant" (then ``xco_value`` in
    10²⁰ cm⁻² (K km s⁻¹)⁻¹ is required); the scales multiply each component.
    """
    if xco not in _XCO_MODES:
        raise ValueError(f"unknown X_CO model {xco!r}; choose from {sorted(_XCO_MODES)}")
    if xco == "constant":
        if xco_value is None or not xco_value > 0.0:
            raise ValueError("xco='constant' needs xco_value > 0")
    elif xco_value is not None:
        raise ValueError("xco_value is only used with xco='constant'")
    if min(scale_HI, scale_H2, scale_HII) < 0.0:
        raise ValueError("gas scales must be >= 0")
    return np.array([_XCO_MODES[xco], xco_value or 0.0, scale_HI, scale_H2, scale_HII], dtype=float)


@njit(cache=True)
def _many(p, pts):
    out = np.empty((pts.shape[0], 3))
    for m in range(pts.shape[0]):
        a, b, c = gas_densities(p, pts[m, 0], pts[m, 1], pts[m, 2])
        out[m, 0] = a
        out[m, 1] = b
        out[m, 2] = c
    return out


def evaluate_gas(p: np.ndarray, points_kpc) -> np.ndarray:
    """(n_HI, n_H2, n_HII) [cm⁻³], shape (n_points, 3), at the rows of ``points_kpc``."""
    return _many(np.asarray(p, dtype=float), np.atleast_2d(np.asarray(points_kpc, dtype=float)))
