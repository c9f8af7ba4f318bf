"""Interstellar radiation field (ISRF) as a sum of grey (diluted black) bodies.

Each component i has a temperature T_i [K] and an energy density U_i [eV cm⁻³]; its photon
spectrum is a Planck spectrum diluted by κ_i = U_i/(a T_i⁴) (docs/physics.md §2.1).  That is all
the inverse-Compton loss rates of :mod:`sdeprop.models.loss_processes` need.

Local values (``"delahaye10"``): Delahaye et al. 2010 (A&A 524, A51) grey-body ISRF at the
Sun, as tabulated in docs/physics.md §2.1 (taken there from DRAGON ``eloss.cc`` and D2MW
``include/ISRF.h``; the paper's table itself was not read, docs/physics.md §9 item 10).  The sources
give temperatures and dilution factors κ_i; the energy densities are U_i = κ_i a T_i⁴
(a = 4.72214×10⁻³ eV cm⁻³ K⁻⁴):

=========  ========  ==========  =====================================
component  T [K]     κ           U⊙ = κ a T⁴ [eV cm⁻³] (docs/physics.md §2.1)
=========  ========  ==========  =====================================
CMB        2.725     1           0.26038 (0.260)
dust IR    33.07     4.5e-5      0.25415 (0.254)
optical    313.32    1.2e-9      0.054610 (0.0546)
UV-1       3249.3    7.03e-13    0.37004 (0.370)
UV-2       6150.4    3.39e-14    0.22906 (0.229)
UV-3       23209.0   8.67e-17    0.11879 (0.119)
=========  ========  ==========  =====================================

Total 1.2870 eV cm⁻³.  The unrounded κ a T⁴ values (not the 3-digit column of docs/physics.md §2.1) are
the ones that reproduce the IC column of docs/physics.md §3.3 (e.g. 9.55×10⁻⁸ GeV/s at 10⁵ GeV).

**Spatial dependence.**  docs/physics.md §2.1 found no primary source for an analytic scaling, so the
**default is a uniform field** (as DRAGON's ``UniformISRF`` mode and Delahaye et al. 2010).  As
an option the non-CMB components can follow the separable exponential disc of docs/physics.md §2.1
option 2,

    U_i(R, z) = U_i,⊙ exp[−(R − R⊙)/R_i − |z|/z_i],

with scale lengths R_i and heights z_i supplied by the caller (they are an engineering
placeholder to be fitted to a published 3-D ISRF, e.g. Porter et al. 2017; no default values
are offered here because none has a source).  The CMB is always uniform.

Frame: Galactocentric, kpc, Sun on the −x axis (docs/physics.md §0); R = √(x² + y²).

Parameter layout (float64): ``[n, R⊙, (T_i, U_i,⊙, 1/R_i, 1/z_i) for i < n]``; a zero inverse
scale means no variation along that direction.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

ISRF_HEADER = 2
ISRF_STRIDE = 4

COMPONENT_NAMES_DELAHAYE10 = ("CMB", "dust IR", "optical", "UV-1", "UV-2", "UV-3")
"""Component names of the Delahaye et al. 2010 grey-body ISRF, in parameter order."""

A_RAD_EV_CM3_K4 = 4.72214e-3
"""Radiation constant a [eV cm⁻³ K⁻⁴] (docs/physics.md §0.1)."""

# (T [K], dilution κ); docs/physics.md §2.1 table (Delahaye et al. 2010 via DRAGON/D2MW)
DELAHAYE10_T_KAPPA = (
    (2.725, 1.0),
    (33.07, 4.5e-5),
    (313.32, 1.2e-9),
    (3249.3, 7.03e-13),
    (6150.4, 3.39e-14),
    (23209.0, 8.67e-17),
)
DELAHAYE10 = tuple((t, k * A_RAD_EV_CM3_K4 * t**4) for t, k in DELAHAYE10_T_KAPPA)
"""(T [K], U⊙ = κ a T⁴ [eV cm⁻³]) of the Delahaye et al. 2010 components."""


@njit(cache=True, error_model="numpy")
def isrf_n_components(p):
    """Number of grey-body components in the parameter array ``p``."""
    return int(p[0])


@njit(cache=True, error_model="numpy")
def isrf_temperature_K(p, i):
    """Temperature T_i [K] of component i."""
    return p[ISRF_HEADER + ISRF_STRIDE * i]


@njit(cache=True, error_model="numpy")
def isrf_energy_density(p, i, x, y, z):
    """Energy density U_i [eV cm⁻³] of component i at (x, y, z) [kpc].

    U_i,⊙ exp[−(R − R⊙)/R_i − |z|/z_i] (uniform when both inverse scales are 0).
    """
    k = ISRF_HEADER + ISRF_STRIDE * i
    u = p[k + 1]
    inv_R = p[k + 2]
    inv_z = p[k + 3]
    if inv_R == 0.0 and inv_z == 0.0:
        return u
    R = math.sqrt(x * x + y * y)
    return u * math.exp(-(R - p[1]) * inv_R - abs(z) * inv_z)


def isrf_local_components(p) -> list[tuple[float, float]]:
    """(T_i [K], U_i,⊙ [eV cm⁻³]) of every component of the parameter array ``p``."""
    n = int(p[0])
    return [
        (float(p[ISRF_HEADER + ISRF_STRIDE * i]), float(p[ISRF_HEADER + ISRF_STRIDE * i + 1]))
        for i in range(n)
    ]


def isrf_component_is_uniform(p, i: int) -> bool:
    """True when component i of ``p`` does not vary in space (both inverse scales zero)."""
    k = ISRF_HEADER + ISRF_STRIDE * i
    return p[k + 2] == 0.0 and p[k + 3] == 0.0


@njit(cache=True, error_model="numpy")
def isrf_energy_densities(p, x, y, z, out):
    """Fill ``out[:n]`` with the component energy densities [eV cm⁻³] at (x, y, z) [kpc].

    Writes into a caller-provided array (no allocation) and returns the total [eV cm⁻³].
    """
    n = int(p[0])
    total = 0.0
    for i in range(n):
        u = isrf_energy_density(p, i, x, y, z)
        out[i] = u
        total += u
    return total


def _per_component(value, n_other, what):
    """Scale lengths for the non-CMB components: None → ∞, scalar → all, sequence → each."""
    if value is None:
        return [math.inf] * n_other
    if np.ndim(value) == 0:
        return [float(value)] * n_other
    vals = [float(v) for v in value]
    if len(vals) != n_other:
        raise ValueError(f"{what}: expected {n_other} values (one per non-CMB component), got {len(vals)}")
    return vals


def build_isrf(
    model: str = "delahaye10",
    *,
    components=None,
    scale_lengths_kpc=None,
    scale_heights_kpc=None,
    R_sun_kpc: float = 8.5,
    scale: float = 1.0,
) -> np.ndarray:
    """Build the float64 ISRF parameter array.

    Parameters
    ----------
    model : "delahaye10" (table above) or "custom" (then give ``components``).
    components : sequence of (T [K], U⊙ [eV cm⁻³]) for ``model="custom"``; the first one is
        treated as the CMB (always uniform).
    scale_lengths_kpc, scale_heights_kpc : None (uniform, the default), one value for all
        non-CMB components, or one value per non-CMB component; ``math.inf`` = no variation.
    R_sun_kpc : galactocentric radius [kpc] at which U⊙ applies (only used with a scale length).
    scale : factor applied to every non-CMB U (e.g. to bracket ISRF uncertainties).
    """
    if model == "delahaye10":
        comps = DELAHAYE10
    elif model == "custom":
        if components is None:
            raise ValueError("model='custom' needs components=[(T_K, U_eV_cm3), ...]")
        comps = tuple((float(t), float(u)) for t, u in components)
    else:
        raise ValueError(f"unknown ISRF model {model!r}")
    if any(t <= 0.0 or u < 0.0 for t, u in comps):
        raise ValueError("ISRF temperatures must be > 0 and energy densities >= 0")
    if scale < 0.0 or R_sun_kpc <= 0.0:
        raise ValueError("scale must be >= 0 and R_sun_kpc > 0")
    n = len(comps)
    lengths = _per_component(scale_lengths_kpc, n - 1, "scale_lengths_kpc")
    heights = _per_component(scale_heights_kpc, n - 1, "scale_heights_kpc")
    if any(v <= 0.0 for v in lengths + heights):
        raise ValueError("scale lengths and heights must be > 0 (math.inf for none)")
    p = np.zeros(ISRF_HEADER + ISRF_STRIDE * n)
    p[0] = n
    p[1] = R_sun_kpc
    for i, (t, u) in enumerate(comps):
        k = ISRF_HEADER + ISRF_STRIDE * i
        p[k] = t
        if i == 0:  # CMB: uniform, unscaled
            p[k + 1] = u
        else:
            p[k + 1] = u * scale
            p[k + 2] = 1.0 / lengths[i - 1]
            p[k + 3] = 1.0 / heights[i - 1]
    return p


def isrf_from_config(isrf_cfg) -> np.ndarray:
    """:func:`build_isrf` with the keys of a [losses.isrf] section (any object with those attributes)."""
    c = isrf_cfg
    return build_isrf(
        c.model,
        components=c.components,
        scale_lengths_kpc=c.scale_lengths_kpc,
        scale_heights_kpc=c.scale_heights_kpc,
        R_sun_kpc=c.R_sun_kpc,
        scale=c.scale,
    )


@njit(cache=True)
def _many(p, pts):
    n = int(p[0])
    out = np.empty((pts.shape[0], n))
    for m in range(pts.shape[0]):
        isrf_energy_densities(p, pts[m, 0], pts[m, 1], pts[m, 2], out[m])
    return out


def evaluate_isrf(p: np.ndarray, points_kpc) -> np.ndarray:
    """Component energy densities [eV cm⁻³], shape (n_points, n_components), at rows of ``points_kpc``."""
    return _many(np.asarray(p, dtype=float), np.atleast_2d(np.asarray(points_kpc, dtype=float)))
