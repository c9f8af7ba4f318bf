"""Unger & Farrar (2024) coherent Galactic magnetic field (UF23), all eight variants, with an
analytic Jacobian, for direct evaluation inside the numba transport kernel.

Sources (formulas re-derived from these; no code copied):

* M. Unger & G. R. Farrar, "The Coherent Magnetic Field of the Milky Way", ApJ 970, 95 (2024),
  arXiv:2311.12120.  Equation numbers below are those quoted in the authors' code.
* Authors' reference implementation, github.com/MichaelUnger/GalacticMagneticFieldUF23,
  ``UF23Field.cc`` at commit ab3f2a78e30ecb254dd6f96f6b4f6b20271ef180 (parameter values,
  fixed constants, conventions) and ``Test/testUF23Field.cxx`` (reference values).
* CRPropa3 ``src/magneticField/UF23Field.cpp`` (commits ca66f943 and db97df14): same
  parameters and formulas; ``test/testMagneticField.cpp`` carries the same reference table.
* docs/physics.md §0 (frame) and §1.3 (UF23 summary and parameter table).

Conventions (the authors')
--------------------------
Right-handed Galactocentric Cartesian frame, kpc; Galactic Centre at the origin, Sun
(Earth) on the negative x axis, z towards the North Galactic Pole.  The Sun is at about
(-8.2, 0, 0) kpc: the authors' examples evaluate (-8.2, 0, 0) and the spur model is
referenced to r = 8.2 kpc; the field itself has no Sun position in it.  B in μG,
J_ij = ∂B_j/∂x_i in μG/kpc.  The whole field is zero beyond a spherical Galactocentric
radius of 30 kpc (the authors' default ``maxRadiusInKpc``; B = 0 when r_sph² > R_max²).
On the z axis (r = 0) the azimuthal unit vector is taken as (0, 1, 0), as in the authors'
code; z = 0 counts as north (sgn z = +1, B_N of the toroidal halo).

Components (all summed in cylindrical (r, φ, z) components, then rotated once)
------------------------------------------------------------------------------
* spiral disk (Eq. 10–14):  B_r, B_φ = b(φ₀) h_d(z) g_d(r) (r_ref/r) (sin α, cos α),
  b(φ₀) = Σ_m B_m cos(m(φ₀ − φ_m)), φ₀ = φ − ln(r/r_ref)/tan α, r_ref = 5 kpc,
  h_d = 1 − σ(|z|; z_d, w_d), g_d = (1 − e^{−r²}) σ(r; 5, 0.5) (1 − σ(r; 20, 0.5)),
  σ(x; x₀, w) = 1/(1 + e^{−(x−x₀)/w}).
* spur disk (Eq. 16–18): one arm segment referenced to r_S = 8.2 kpc, winding k = 0 only,
  Gaussian in Δ(φ₁, φ₀) of width w_S, along-arm gate 1 − σ(Δ(φ_C, φ); L_S, 5°).
* toroidal halo (Eq. 21): B_φ = B_{N,S} (1 − σ(r; r_t, w_t)) σ(|z|; z_d, w_d) e^{−|z|/z_t}.
* poloidal "X" halo (Eq. 28–38): field lines r^p = a^p [1 + A/(a^p + A) (|z|/z_p)^p],
  A = a_c^p, footpoint profile f(a) = 1 − σ(a; r_p, w_p) (logistic) or e^{−a/r_p} (expX);
  a_c → ∞ for all variants but expX (the authors use a_c = 1 Gpc numerically; here the exact
  closed-form limit is used: it differs from their numbers by ≤ 1e-7 |B| for the total field
  and ≤ 4e-7 |B| for the X field alone at the tested points; ``a_c=1e6`` reproduces them to
  rounding).
* twisted halo (twistX, Eq. 43–47): B_φ = τ (B_z Δ_z + B_r Δ_r) of the X field sheared by
  v_φ = v₀ (1 − e^{−r/r₀}) 2/(1 + e^{2|z|/z₀}), v₀ = −240 km/s, r₀ = 1.6 kpc, z₀ = 10 kpc.

Analytic Jacobian
-----------------
Each component returns its cylindrical components and their derivatives (∂_r, (1/r)∂_φ,
∂_z) together with B_r/r and B_φ/r; one rotation then gives the Cartesian Jacobian
(∂_x = cos φ ∂_r − sin φ (1/r)∂_φ, ∂_y = sin φ ∂_r + cos φ (1/r)∂_φ, plus ∂_φ r̂ = φ̂,
∂_φ φ̂ = −r̂).

* disk and spur: product rule on b(φ₀)·h_d(z)·g_d(r)/r with ∂φ₀/∂r = −1/(r tan α),
  ∂φ₀/∂φ = 1; σ' = σ(1 − σ)/w.
* toroidal halo: axisymmetric B_φ(r, z), derivatives of the two sigmoids and the exponential.
* X field: written with a stream function Ψ(r, z) = Φ(a(r, z)), Φ'(a) = B_p f(a) a, so
  B_z = Ψ_r/r and B_r = −Ψ_z/r.  With k = a/r and W = A sgn z |z|^{p−1}/(z_p^p t₁)
  (t₀ = A(1 + u) − r^p, t₁ = √(t₀² + 4 A r^p), u = (|z|/z_p)^p) one finds
  ∂_z ln k = −W, r ∂_r ln k = r^p (1 − k^p)/t₁, B_r = f B_p k² r W and
  B_z = f B_p k^{2−p} (a^p + A)/t₁; the Jacobian follows by the product rule, written so
  that no 1/r appears (smooth on the axis).  The a_c → ∞ limit has k = (1 + u)^{−1/p},
  W = sgn z |z|^{p−1}/(z_p^p + |z|^p), B_z = F k², B_r = F k² r W.
  **∂B_r/∂z ∝ |z|^{p−2} is singular at the mid-plane for p < 2** (every variant but twistX);
  it is evaluated at |z| ≥ Z_FLOOR = 1e-9 kpc so that J stays finite.  This affects only
  J_zx, J_zy (off-diagonal), not the trace.
* twisted halo: product rule on B_z Δ_z + B_r Δ_r with the X-field Jacobian above.
* On the axis (r < R_AXIS = 1e-9 kpc) the disk/spur are zero (authors: r = 0), and the 1/r
  terms of the toroidal halo (B_φ ≠ 0 on the axis: a genuine line singularity of the model)
  are evaluated at r = R_AXIS.

Divergence
----------
The toroidal, X and twisted halos are solenoidal by construction, and trace(J) vanishes to
rounding for them.  **The disk components are not exactly solenoidal**: for the spiral disk
∇·B = (r_ref/r) sin α b(φ₀) h_d(z) g_d'(r) (the radial window g_d breaks flux conservation,
comparable to ‖J‖ near r ≈ 5 and 20 kpc), and for the spur
∇·B = (r_S/r²) cos α B(φ₀) h_d(z) g_S'(φ) (the along-arm gate depends on φ, not on φ₀).
``uf23_divergence_residual`` returns these analytic values; the Jacobian's trace equals them.
The transport drift of the kernel does not assume ∇·B = 0.

Shortcuts that change results only at the rounding level: the disk is not evaluated where
h_d(z) < e^{−37} (|z| > z_d + 37 w_d), 1 − e^{−r²} is taken as 1 for r² > 40, and |z|^p,
(1 + u)^{−1/p} are computed as exp(p ln ·) (~1e-15 relative).

Parameter array (float64, length N_UF23_PARAMS; build it with ``uf23_params``)
-------------------------------------------------------------------------------
Switches and scale factors (slots 0–7): P_DISK_FORM (0 spiral, 1 spur), P_HALO_FORM
(0 independent toroidal halo, 1 twisted halo from the X-field shear), P_X_PROFILE
(0 logistic f(a), 1 exponential f(a)), P_X_FINITE (0 a_c → ∞ closed form, 1 finite a_c),
P_S_DISK, P_S_TOR, P_S_X (factors multiplying disk, toroidal/twisted halo and X field;
0 switches a component off and skips its evaluation; the twisted halo is computed from the
*unscaled* X field, so the three factors are independent), P_RMAX (kpc).
Published parameters (slots 8–33, the authors' units μG, kpc, degrees, Myr), names in
``UF23_PARAM_NAMES``; unused ones are NaN.  Derived quantities (slots 34–…, radians,
trigonometric functions of the pitch and phases, powers of z_p and a_c) are filled by
``uf23_params`` and are what the njit function reads: **never edit the array in place**,
call ``uf23_params(variant, **overrides)`` instead.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

UF23_VARIANTS = ("base", "expX", "spur", "neCL", "twistX", "nebCor", "cre10", "synCG")

# ---------------------------------------------------------------- array layout
# switches and scale factors
P_DISK_FORM = 0      # 0 spiral, 1 spur
P_HALO_FORM = 1      # 0 toroidal halo, 1 twisted halo
P_X_PROFILE = 2      # 0 logistic footpoint profile, 1 exponential (expX)
P_X_FINITE = 3       # 0 a_c -> infinity (closed form), 1 finite a_c
P_S_DISK = 4
P_S_TOR = 5
P_S_X = 6
P_RMAX = 7           # kpc
# published parameters (authors' units: muG, kpc, deg, Myr)
UF23_PARAM_NAMES = (
    "B1", "B2", "B3", "z_d", "w_d", "phi1", "phi2", "phi3", "alpha",
    "B_p", "p", "r_p", "w_p", "z_p", "a_c", "xi",
    "phi_C", "L_S", "w_S", "striation",
    "B_N", "B_S", "r_t", "w_t", "z_t", "tau",
)
_FIRST = 8
(P_B1, P_B2, P_B3, P_ZD, P_WD, P_PHI1, P_PHI2, P_PHI3, P_ALPHA,
 P_BP, P_P, P_RP, P_WP, P_ZP, P_AC, P_XI,
 P_PHIC, P_LS, P_WS, P_STRIATION,
 P_BN, P_BS, P_RT, P_WT, P_ZT, P_TAU) = range(_FIRST, _FIRST + len(UF23_PARAM_NAMES))
# derived (read by the njit function)
_D = _FIRST + len(UF23_PARAM_NAMES)          # 34
(D_RMAX2, D_SIN_A, D_COS_A, D_COT_A, D_TAN_A,
 D_A1, D_B1, D_A2, D_B2, D_A3, D_B3,
 D_INV_WD, D_INV_ZT, D_INV_WT, D_INV_WP, D_INV_RP,
 D_INV_P, D_ZPP, D_INV_ZPP, D_AP, D_CP,
 D_PHI1, D_PHIC, D_LS, D_INV_WS2, D_EXP_2PI_TAN, D_EXP_M2PI_TAN) = range(_D, _D + 27)
N_UF23_PARAMS = _D + 27

_SWITCH_NAMES = {
    "disk_form": P_DISK_FORM, "halo_form": P_HALO_FORM, "x_profile": P_X_PROFILE,
    "x_finite": P_X_FINITE, "disk_scale": P_S_DISK, "toroidal_scale": P_S_TOR,
    "poloidal_scale": P_S_X, "r_max": P_RMAX,
}

# ------------------------------------------------------- fixed constants of the model (authors' code)
_PI = math.pi
_TWO_PI = 2.0 * math.pi
_DEG = math.pi / 180.0
_R_REF = 5.0             # spiral reference radius, kpc
_R_IN = 5.0              # inner transition of the spiral disk, kpc
_INV_W_IN = 1.0 / 0.5
_R_OUT = 20.0            # outer transition, kpc
_INV_W_OUT = 1.0 / 0.5
_R_SPUR = 8.2            # spur reference radius ("approximately at solar radius"), kpc
_INV_W_GATE = 1.0 / (5.0 * _DEG)   # spur along-arm gate width 5 deg
# twisted halo: rotation curve v0 (1 - exp(-r/r0)) * 2/(1 + exp(2|z|/z0)); km/s -> kpc/Myr with the
# authors' constants (1 kpc = 3.0856775807e16 km, 1 Myr = 1e6 * 365.25 * 86400 s)
_KMS = (1e6 * 60 * 60 * 24 * 365.25) / 3.0856775807e16
_V0 = -240.0 * _KMS      # kpc/Myr
_R0_ROT = 1.6            # kpc
_INV_R0_ROT = 1.0 / _R0_ROT
_INV_Z0_ROT = 1.0 / 10.0
_E_IN_OUT = math.exp((_R_OUT - _R_IN) * _INV_W_IN)  # e^{30}: e_out = e_in e^{30} (equal widths)
R_AXIS = 1e-9            # kpc: below this r counts as on the axis (1/r terms capped)
Z_FLOOR = 1e-9           # kpc: |z|^(p-2) in dB_r/dz is evaluated at |z| >= Z_FLOOR

# ---------------------------------------------------------------- published parameters
# Values of UF23Field.cc @ab3f2a7 (identical in CRPropa3 UF23Field.cpp), docs/physics.md §1.3 table.
_NAN = float("nan")
_COMMON_NAN = {"a_c": math.inf, "xi": _NAN, "phi_C": _NAN, "L_S": _NAN, "w_S": _NAN, "tau": _NAN}
_PUBLISHED = {
    "base": dict(B1=1.0878565, B2=2.6605034, B3=3.1166311, z_d=0.79408965, w_d=0.10720909,
                 phi1=263.16589, phi2=97.782269, phi3=35.112281, alpha=10.106900,
                 B_p=0.97775487, p=1.4266186, r_p=7.2925417, w_p=0.11188158, z_p=4.4597373,
                 striation=0.34557571, B_N=3.2556760, B_S=-3.0914569, r_t=10.193815,
                 w_t=1.6936993, z_t=4.0242749),
    "cre10": dict(B1=1.2035697, B2=2.7478490, B3=3.2104342, z_d=0.80844932, w_d=0.10824003,
                  phi1=265.15882, phi2=98.211313, phi3=35.944588, alpha=10.162759,
                  B_p=0.96938453, p=1.4150957, r_p=7.2987296, w_p=0.10923051, z_p=4.5748332,
                  striation=0.24950386, B_N=3.7308133, B_S=-3.5039958, r_t=10.407507,
                  w_t=1.7398375, z_t=2.9272800),
    "nebCor": dict(B1=1.4081935, B2=3.5292400, B3=4.1290147, z_d=0.81151971, w_d=0.11863734,
                   phi1=264.47529, phi2=97.572660, phi3=36.403798, alpha=10.151183,
                   B_p=1.3485916, p=1.3414395, r_p=7.2473841, w_p=0.14318227, z_p=4.8242603,
                   striation=3.8610837e-10, B_N=4.6491142, B_S=-4.5006610, r_t=10.205288,
                   w_t=1.7004868, z_t=3.5557767),
    "neCL": dict(B1=1.4259645, B2=1.3543223, B3=3.4390669, z_d=0.67405199, w_d=0.061162799,
                 phi1=199.61898, phi2=135.41461, phi3=64.909767, alpha=11.867859,
                 B_p=0.98387831, p=1.6773615, r_p=7.4084361, w_p=0.14168192, z_p=3.6521188,
                 striation=0.33600213, B_N=2.6256593, B_S=-2.5699466, r_t=10.134257,
                 w_t=1.1547728, z_t=4.5585463),
    "spur": dict(B1=-4.2993328, B2=_NAN, B3=_NAN, z_d=0.75019749, w_d=0.12263120,
                 phi1=155.89875, phi2=_NAN, phi3=_NAN, alpha=12.074432,
                 B_p=0.99302987, p=1.3982374, r_p=7.1973387, w_p=0.12262244, z_p=4.4853270,
                 phi_C=157.18686, L_S=31.839577, w_S=10.318114,
                 striation=0.33022369, B_N=2.9286724, B_S=-2.5979895, r_t=9.7536425,
                 w_t=1.4210055, z_t=6.0941229),
    "synCG": dict(B1=0.81386878, B2=2.0586930, B3=2.9437335, z_d=0.62172353, w_d=0.066517521,
                  phi1=229.88551, phi2=97.388282, phi3=32.927367, alpha=9.9034844,
                  B_p=0.80883734, p=1.5820957, r_p=7.4625235, w_p=0.15003765, z_p=3.5338550,
                  striation=0.63434763, B_N=2.3991193, B_S=-2.0919944, r_t=9.4227834,
                  w_t=0.91608418, z_t=5.5844594),
    "twistX": dict(B1=1.3741995, B2=2.0089881, B3=1.5212463, z_d=0.93806180, w_d=0.14933338,
                   phi1=235.60316, phi2=101.89856, phi3=56.187572, alpha=12.100979,
                   B_p=0.62793114, p=2.3292519, r_p=7.9212358, w_p=0.29056201, z_p=2.6274437,
                   striation=0.77616317, B_N=_NAN, B_S=_NAN, r_t=_NAN, w_t=_NAN, z_t=_NAN,
                   tau=54.733549),
    "expX": dict(B1=0.99258148, B2=2.1821124, B3=3.1197345, z_d=0.71508681, w_d=0.098524736,
                 phi1=247.45741, phi2=98.578879, phi3=34.884485, alpha=10.027070,
                 B_p=5.8357990, p=1.9510779, r_p=2.4994376, w_p=_NAN, a_c=6.1938701,
                 xi=20.926122, z_p=_NAN,  # z_p = a_c tan(xi)
                 striation=0.51440500, B_N=2.7077434, B_S=-2.5677104, r_t=10.134022,
                 w_t=2.0956159, z_t=5.4564991),
}
# forms: (disk, halo, X profile)
_FORMS = {"base": (0, 0, 0), "cre10": (0, 0, 0), "nebCor": (0, 0, 0), "neCL": (0, 0, 0),
          "synCG": (0, 0, 0), "spur": (1, 0, 0), "twistX": (0, 1, 0), "expX": (0, 0, 1)}


def uf23_params(variant: str = "base", **overrides) -> np.ndarray:
    """Parameter array of UF23 ``variant`` (one of ``UF23_VARIANTS``), float64[N_UF23_PARAMS].

    ``overrides`` may set any published parameter by its name in ``UF23_PARAM_NAMES``
    (authors' units: μG, kpc, degrees, Myr) and the switches ``disk_scale``,
    ``toroidal_scale``, ``poloidal_scale`` (factors, 0 = off), ``r_max`` (kpc, default 30),
    ``disk_form`` (0 spiral, 1 spur), ``halo_form`` (0 toroidal, 1 twisted), ``x_profile``
    (0 logistic, 1 exponential).  ``a_c`` = inf selects the closed-form a_c → ∞ X field.
    For expX, z_p = a_c tan ξ (the fitted parameter is ξ, as in the authors' code); passing
    ``z_p`` for it sets ξ = atan(z_p/a_c) instead.
    """
    if variant not in _PUBLISHED:
        raise ValueError(f"unknown UF23 variant {variant!r}; choose from {UF23_VARIANTS}")
    vals = dict(_COMMON_NAN)
    vals.update(_PUBLISHED[variant])
    disk_form, halo_form, x_profile = _FORMS[variant]
    sw = {"disk_form": disk_form, "halo_form": halo_form, "x_profile": x_profile,
          "disk_scale": 1.0, "toroidal_scale": 1.0, "poloidal_scale": 1.0, "r_max": 30.0}
    for key, value in overrides.items():
        if key in sw:
            sw[key] = float(value)
        elif key in vals:
            vals[key] = float(value)
        else:
            raise ValueError(f"unknown UF23 parameter {key!r}")
    if not math.isfinite(vals["a_c"]):
        vals["xi"] = _NAN                      # xi only parametrises z_p = a_c tan(xi) for finite a_c
    elif "z_p" in overrides:
        vals["xi"] = math.degrees(math.atan(vals["z_p"] / vals["a_c"]))
    if math.isfinite(vals["xi"]):
        vals["z_p"] = vals["a_c"] * math.tan(math.radians(vals["xi"]))
    if not (math.isfinite(vals["z_p"]) and vals["z_p"] > 0.0):
        raise ValueError("the X field needs z_p > 0 (or xi with a finite a_c)")
    if not vals["a_c"] > 0.0:
        raise ValueError("a_c must be > 0 (inf for the a_c -> infinity limit)")
    for key in ("disk_form", "halo_form", "x_profile"):
        if sw[key] not in (0.0, 1.0):
            raise ValueError(f"{key} must be 0 or 1")

    p = np.full(N_UF23_PARAMS, np.nan)
    p[P_DISK_FORM] = sw["disk_form"]
    p[P_HALO_FORM] = sw["halo_form"]
    p[P_X_PROFILE] = sw["x_profile"]
    p[P_X_FINITE] = 1.0 if math.isfinite(vals["a_c"]) else 0.0
    p[P_S_DISK] = sw["disk_scale"]
    p[P_S_TOR] = sw["toroidal_scale"]
    p[P_S_X] = sw["poloidal_scale"]
    p[P_RMAX] = sw["r_max"]
    for i, name in enumerate(UF23_PARAM_NAMES):
        p[_FIRST + i] = vals[name]

    # ---- derived quantities
    p[D_RMAX2] = sw["r_max"] ** 2
    alpha = math.radians(vals["alpha"])
    p[D_SIN_A] = math.sin(alpha)
    p[D_COS_A] = math.cos(alpha)
    p[D_TAN_A] = math.tan(alpha)
    p[D_COT_A] = 1.0 / math.tan(alpha)
    # b(phi0) = sum_m B_m cos(m (phi0 - phi_m)) = sum_m [a_m cos(m phi0) + b_m sin(m phi0)]
    for m, (bm, ph, ia, ib) in enumerate(((vals["B1"], vals["phi1"], D_A1, D_B1),
                                          (vals["B2"], vals["phi2"], D_A2, D_B2),
                                          (vals["B3"], vals["phi3"], D_A3, D_B3)), start=1):
        if math.isfinite(bm):
            p[ia] = bm * math.cos(m * math.radians(ph))
            p[ib] = bm * math.sin(m * math.radians(ph))
        else:
            p[ia] = p[ib] = 0.0
    p[D_INV_WD] = 1.0 / vals["w_d"]
    p[D_INV_ZT] = 1.0 / vals["z_t"]
    p[D_INV_WT] = 1.0 / vals["w_t"]
    p[D_INV_WP] = 1.0 / vals["w_p"]
    p[D_INV_RP] = 1.0 / vals["r_p"]
    pp = vals["p"]
    p[D_INV_P] = 1.0 / pp
    p[D_ZPP] = vals["z_p"] ** pp
    p[D_INV_ZPP] = 1.0 / p[D_ZPP]
    if math.isfinite(vals["a_c"]):
        p[D_AP] = vals["a_c"] ** pp
        p[D_CP] = p[D_AP] / p[D_ZPP]
    else:
        p[D_AP] = np.inf
        p[D_CP] = np.inf
    p[D_PHI1] = math.radians(vals["phi1"])
    p[D_PHIC] = math.radians(vals["phi_C"])
    p[D_LS] = math.radians(vals["L_S"])
    p[D_INV_WS2] = 1.0 / math.radians(vals["w_S"]) ** 2
    p[D_EXP_2PI_TAN] = math.exp(_TWO_PI * p[D_TAN_A])
    p[D_EXP_M2PI_TAN] = math.exp(-_TWO_PI * p[D_TAN_A])
    if sw["x_profile"] == 0.0 and not math.isfinite(vals["w_p"]):
        raise ValueError("logistic X-field profile needs w_p")
    if sw["halo_form"] == 1.0 and not math.isfinite(vals["tau"]):
        raise ValueError("twisted halo needs tau")
    if sw["halo_form"] == 0.0 and not math.isfinite(vals["B_N"]):
        raise ValueError("toroidal halo needs B_N, B_S, r_t, w_t, z_t")
    if sw["disk_form"] == 1.0 and not math.isfinite(vals["w_S"]):
        raise ValueError("spur disk needs phi_C, L_S, w_S")
    if sw["disk_form"] == 0.0 and not all(math.isfinite(vals[k]) for k in ("B2", "B3", "phi2", "phi3")):
        raise ValueError("spiral disk needs B1..B3 and phi1..phi3")
    return p


def uf23_param_dict(p: np.ndarray) -> dict:
    """The published parameters and switches stored in ``p``, by name (for reports)."""
    out = {name: float(p[_FIRST + i]) for i, name in enumerate(UF23_PARAM_NAMES)}
    out.update({k: float(p[i]) for k, i in _SWITCH_NAMES.items()})
    return out


# ---------------------------------------------------------------- numba kernels
@njit(cache=True, inline="always", error_model="numpy")
def _sig(t):
    """(σ, 1 − σ) of the logistic σ = 1/(1 + e^{−t}), without overflow for any t."""
    e = math.exp(-abs(t))
    inv = 1.0 / (1.0 + e)
    lo = e * inv
    # branch-free select (random points would mispredict a branch)
    return (inv if t >= 0.0 else lo), (lo if t >= 0.0 else inv)


@njit(cache=True, inline="always", error_model="numpy")
def _xfield(p, r, az, sz):
    """Poloidal X field (Eq. 28–38) and its derivatives in cylindrical components.

    Returns (B_r, B_r/r, B_z, ∂_r B_r, ∂_z B_r, ∂_r B_z, ∂_z B_z), unscaled.
    """
    pp = p[P_P]
    bp = p[P_BP]
    if az > 0.0:
        azp = math.exp(pp * math.log(az))  # |z|^p (cheaper than pow, ~1e-15 relative)
        azp1 = azp / az                    # |z|^(p-1)
        if az >= Z_FLOOR:
            azp2 = azp1 / az               # |z|^(p-2)
        else:
            azp2 = Z_FLOOR ** (pp - 2.0)
    else:
        azp = 0.0
        azp1 = 0.0
        azp2 = Z_FLOOR ** (pp - 2.0)
    if p[P_X_FINITE] == 0.0:
        # a_c -> infinity: a = r k, k = (1 + u)^(-1/p); B_z = F k^2, B_r = F k^2 r w
        s_ = p[D_ZPP] + azp                # z_p^p + |z|^p
        inv_s = 1.0 / s_
        k = math.exp(-p[D_INV_P] * math.log(s_ * p[D_INV_ZPP]))   # (1 + u)^(-1/p)
        k2 = k * k
        k3 = k2 * k
        w = sz * azp1 * inv_s              # sgn z |z|^(p-1) / (z_p^p + |z|^p); dk/dz = -k w
        wz = (pp - 1.0) * azp2 * inv_s - pp * w * w
        a = r * k
        if p[P_X_PROFILE] == 0.0:
            sa, sa_c = _sig((a - p[P_RP]) * p[D_INV_WP])
            f = bp * sa_c
            fp = -bp * sa * sa_c * p[D_INV_WP]
        else:
            f = bp * math.exp(-a * p[D_INV_RP])
            fp = -f * p[D_INV_RP]
        bz = f * k2
        br_r = bz * w
        br = br_r * r
        dbz_dr = fp * k3
        dbz_dz = -(fp * r * k3 + 2.0 * f * k2) * w
        dbr_dr = (fp * k3 * r + f * k2) * w
        dbr_dz = r * (f * k2 * (wz - 2.0 * w * w) - fp * r * k3 * w * w)
        return br, br_r, bz, dbr_dr, dbr_dz, dbz_dr, dbz_dz
    # finite a_c: A = a_c^p, U = A u, R = r^p, a^p = s solves s^2 + t0 s - A R = 0
    A = p[D_AP]
    if r > 0.0:
        R = math.exp(pp * math.log(r))
        R_r = R / r                        # r^(p-1)
    else:
        R = 0.0
        R_r = 0.0
    U = p[D_CP] * azp
    t0 = A + U - R
    t1 = math.sqrt(t0 * t0 + 4.0 * A * R)
    inv_t1 = 1.0 / t1
    if t0 >= 0.0:
        Q = 2.0 * A / (t1 + t0)            # k^p = (a/r)^p, stable form
    else:
        Q = (t1 - t0) / (2.0 * R)
    v = 2.0 * U / (A + U + R + t1)         # 1 - Q without cancellation
    s = Q * R                              # a^p
    k = math.exp(p[D_INV_P] * math.log(Q))
    k2 = k * k
    a = r * k
    W = p[D_CP] * sz * azp1 * inv_t1       # -d ln k / dz
    Wz = (pp - 1.0) * p[D_CP] * azp2 * inv_t1 - pp * W * W * t0 * inv_t1
    Y = (s + A) * inv_t1
    K = k2 * Y / Q                         # k^(2-p) (a^p + A)/t1
    rdlnk = R * v * inv_t1                 # r d ln k / dr
    dlnK_dr = ((2.0 - pp) * v * inv_t1 + 2.0 * pp * (U - R * v) * inv_t1 * inv_t1) * R_r
    dlnK_dz = -(2.0 - pp) * W - pp * W * (s / (s + A) + t0 * inv_t1)
    rdlnW = -pp * R * (2.0 * A - t0) * inv_t1 * inv_t1   # r d ln W / dr
    a_r = k * (1.0 + rdlnk)
    a_z = -r * k * W
    if p[P_X_PROFILE] == 0.0:
        sa, sa_c = _sig((a - p[P_RP]) * p[D_INV_WP])
        f = bp * sa_c
        fp = -bp * sa * sa_c * p[D_INV_WP]
    else:
        f = bp * math.exp(-a * p[D_INV_RP])
        fp = -f * p[D_INV_RP]
    bz = f * K
    br_r = f * k2 * W
    br = br_r * r
    dbz_dr = fp * a_r * K + bz * dlnK_dr
    dbz_dz = fp * a_z * K + bz * dlnK_dz
    dbr_dr = fp * a_r * k2 * r * W + br_r * (1.0 + 2.0 * rdlnk + rdlnW)
    dbr_dz = r * (fp * a_z * k2 * W - 2.0 * f * k2 * W * W + f * k2 * Wz)
    return br, br_r, bz, dbr_dr, dbr_dz, dbz_dr, dbz_dz


@njit(cache=True, inline="always", error_model="numpy")
def _disk_spiral(p, r, c, s, inv_r, hd, dhd):
    """Spiral disk, UF23 Eq. (10)-(14): (F, ∂_r F, (1/r)∂_φ F, ∂_z F) of the field strength F along
    the spiral direction (c, s = cos φ, sin φ; hd, dhd: the vertical profile and its z-derivative)."""
    # spiral, Eq. (10)-(14)
    cot = p[D_COT_A]
    u = math.log(r * (1.0 / _R_REF)) * cot     # phi - phi0
    cu = math.cos(u)
    su = math.sin(u)
    c1 = c * cu + s * su                       # cos(phi0)
    s1 = s * cu - c * su                       # sin(phi0)
    c2 = c1 * c1 - s1 * s1
    s2 = 2.0 * s1 * c1
    c3 = c2 * c1 - s2 * s1
    s3 = s2 * c1 + c2 * s1
    a1 = p[D_A1]
    b1 = p[D_B1]
    a2 = p[D_A2]
    b2 = p[D_B2]
    a3 = p[D_A3]
    b3 = p[D_B3]
    b = a1 * c1 + b1 * s1 + a2 * c2 + b2 * s2 + a3 * c3 + b3 * s3
    db = (b1 * c1 - a1 * s1) + 2.0 * (b2 * c2 - a2 * s2) + 3.0 * (b3 * c3 - a3 * s3)
    # g_d(r) r_ref / r with (1 - e^{-r^2})/r (r in units of 1 kpc)
    r2 = r * r
    if r2 > 40.0:                      # e^{-r^2} < 5e-18: 1 - e^{-r^2} == 1 in double
        e_r2 = 0.0
        em = 1.0
    elif r2 > 0.5:
        e_r2 = math.exp(-r2)
        em = 1.0 - e_r2
    else:
        em = -math.expm1(-r2)
        e_r2 = 1.0 - em
    q = em * inv_r
    dq = 2.0 * e_r2 - q * inv_r
    # σ(r; 5, 0.5) and σ(r; 20, 0.5) from one exponential: e_o = e_i e^{30}
    # (e_i <= e^10 for r >= 0, so no overflow)
    e_i = math.exp((_R_IN - r) * _INV_W_IN)
    si = 1.0 / (1.0 + e_i)
    si_c = e_i * si
    e_o = e_i * _E_IN_OUT
    so = 1.0 / (1.0 + e_o)
    so_c = e_o * so
    win = si * so_c
    G = _R_REF * q * win
    dG = _R_REF * (dq * win + q * win * (si_c * _INV_W_IN - so * _INV_W_OUT))
    bG = b * G
    F = bG * hd
    dF_dr = hd * (b * dG - db * G * cot * inv_r)
    dF_dp = hd * db * G * inv_r
    dF_dz = bG * dhd
    return F, dF_dr, dF_dp, dF_dz


@njit(cache=True, inline="always", error_model="numpy")
def _disk_spur(p, x, y, r, inv_r, hd, dhd):
    """Local spur, UF23 Eq. (16)-(18): (F, ∂_r F, (1/r)∂_φ F, ∂_z F) as for :func:`_disk_spiral`;
    zero away from the spur's winding k = 0 (the authors' choice of the nearest winding)."""
    # spur, Eq. (16)-(18)
    phi = math.atan2(y, x)
    if phi < 0.0:
        phi += _TWO_PI
    d0 = phi - p[D_PHI1]
    rr0 = _R_SPUR * math.exp(d0 * p[D_TAN_A])
    e0 = abs(r - rr0)
    # authors' choice among windings k = -1, 0, 1 (first minimum wins): keep only k = 0
    if e0 < abs(r - rr0 * p[D_EXP_M2PI_TAN]) and e0 <= abs(r - rr0 * p[D_EXP_2PI_TAN]):
        cot = p[D_COT_A]
        dl = d0 - math.log(r * (1.0 / _R_SPUR)) * cot     # phi0 - phi1
        dl -= _TWO_PI * math.floor(dl * (1.0 / _TWO_PI) + 0.5)   # wrap to [-pi, pi)
        gauss = p[P_B1] * math.exp(-0.5 * dl * dl * p[D_INV_WS2])
        dgauss = -gauss * dl * p[D_INV_WS2]              # d/d(phi0)
        dc = phi - p[D_PHIC]
        dc -= _TWO_PI * math.floor(dc * (1.0 / _TWO_PI) + 0.5)
        sdc = -1.0 if dc < 0.0 else 1.0
        sg, sg_c = _sig((abs(dc) - p[D_LS]) * _INV_W_GATE)
        gs = sg_c
        dgs = -sdc * sg * sg_c * _INV_W_GATE             # d/d(phi)
        pre = _R_SPUR * inv_r
        F = pre * gauss * hd * gs
        dF_dr = -F * inv_r - pre * hd * gs * dgauss * cot * inv_r
        dF_dp = pre * hd * (dgauss * gs + gauss * dgs) * inv_r
        dF_dz = pre * gauss * dhd * gs
        return F, dF_dr, dF_dp, dF_dz
    return 0.0, 0.0, 0.0, 0.0


@njit(cache=True, inline="always", error_model="numpy")
def _twist(tau_v0, r, az, sz, on_axis, inv_r):
    """Twisted halo, UF23 Eq. (43)-(47): B_φ = τ (B_z Δ_z + B_r Δ_r).  Returns τΔ_z, τΔ_z/r,
    ∂_r(τΔ_z), ∂_z(τΔ_z), τΔ_r, ∂_r(τΔ_r), ∂_z(τΔ_r); ``tau_v0`` = τ v0 times the halo's scale."""
    xr = r * _INV_R0_ROT
    if xr > 0.5:
        ex = math.exp(-xr)
        f = 1.0 - ex                          # 1 - e^{-r/r0}
    else:
        f = -math.expm1(-xr)
        ex = 1.0 - f
    if on_axis:
        f_r = _INV_R0_ROT * (1.0 - 0.5 * xr)  # f / r
    else:
        f_r = f * inv_r
    fp = ex * _INV_R0_ROT                     # f'
    # N(x) / x^2 with N = e^{-x}(1 + x) - 1;  h_r = (1 - f)/r0 - f/r = N/r
    if xr < 0.05:
        nx2 = -0.5 + xr * (1.0 / 3.0 + xr * (-1.0 / 8.0 + xr * (1.0 / 30.0 + xr * (
            -1.0 / 144.0 + xr * (1.0 / 840.0 + xr * (-1.0 / 5760.0 + xr * (1.0 / 45360.0)))))))
    else:
        nx2 = (ex * (1.0 + xr) - 1.0) / (xr * xr)
    hr = nx2 * xr * _INV_R0_ROT
    dhr = -(ex + nx2) * _INV_R0_ROT * _INV_R0_ROT
    e2 = math.exp(-2.0 * az * _INV_Z0_ROT)    # e^{-2|z|/z0}; E = 1/e2
    inv1 = 1.0 / (1.0 + e2)
    g = 2.0 * e2 * inv1                       # 2/(1 + E)
    eg2 = 2.0 * g * inv1                      # E g^2 = 4 e2/(1 + e2)^2
    one_m_e_g = 2.0 * (e2 - 1.0) * inv1       # (1 - E) g
    tv = tau_v0
    cz = -sz * _INV_Z0_ROT * eg2
    dz_ = tv * cz * f                         # tau Delta_z
    dz_r = tv * cz * f_r
    ddz_dr = tv * cz * fp
    ddz_dz = sz * dz_ * one_m_e_g * _INV_Z0_ROT
    dr_ = tv * hr * g                         # tau Delta_r
    ddr_dr = tv * dhr * g
    ddr_dz = -tv * hr * sz * eg2 * _INV_Z0_ROT
    return dz_, dz_r, ddz_dr, ddz_dz, dr_, ddr_dr, ddr_dz


@njit(cache=True, error_model="numpy")  # not inlined: keeps the kernel's compile time short
def uf23_field(p, x, y, z, r):
    """UF23 B (μG) and J_ij = ∂B_j/∂x_i (μG/kpc) at (x, y, z) kpc; r = sqrt(x² + y²).

    Returns the 12-tuple (Bx, By, Bz, J00, J01, J02, J10, J11, J12, J20, J21, J22) of
    ``sdeprop.models.field``.  ``p`` from ``uf23_params``.
    """
    if r * r + z * z > p[D_RMAX2]:
        return (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    az = abs(z)
    sz = -1.0 if z < 0.0 else 1.0
    if r > 0.0:
        inv_rt = 1.0 / r
        c = x * inv_rt
        s = y * inv_rt
    else:
        c = 1.0
        s = 0.0
    on_axis = r < R_AXIS
    inv_r = 1.0 / R_AXIS if on_axis else 1.0 / r
    s_disk = p[P_S_DISK]
    s_tor = p[P_S_TOR]
    s_x = p[P_S_X]
    twisted = p[P_HALO_FORM] != 0.0

    # cylindrical accumulators: value, ∂_r, (1/r)∂_φ, ∂_z; and B_r/r, B_φ/r
    br = 0.0
    bph = 0.0
    bz = 0.0
    br_r = 0.0
    bph_r = 0.0
    dbr_dr = 0.0
    dbr_dp = 0.0
    dbr_dz = 0.0
    dbph_dr = 0.0
    dbph_dp = 0.0
    dbph_dz = 0.0
    dbz_dr = 0.0
    dbz_dz = 0.0

    # vertical sigmoid shared by the disk (1 - σ) and the toroidal halo (σ)
    sgz = 0.0
    sgz_c = 1.0
    dsgz = 0.0
    if s_disk != 0.0 or (s_tor != 0.0 and not twisted):
        sgz, sgz_c = _sig((az - p[P_ZD]) * p[D_INV_WD])
        dsgz = sz * sgz * sgz_c * p[D_INV_WD]        # dσ(|z|)/dz

    # ------------------------------------------------------------ disk
    # the disk is skipped where h_d(z) < e^-37 ~ 1e-16 (|z| > z_d + 37 w_d): below rounding
    if s_disk != 0.0 and not on_axis and (az - p[P_ZD]) * p[D_INV_WD] < 37.0:
        hd = sgz_c
        dhd = -dsgz
        if p[P_DISK_FORM] == 0.0:
            F, dF_dr, dF_dp, dF_dz = _disk_spiral(p, r, c, s, inv_r, hd, dhd)
        else:
            F, dF_dr, dF_dp, dF_dz = _disk_spur(p, x, y, r, inv_r, hd, dhd)
        sa = p[D_SIN_A] * s_disk
        ca = p[D_COS_A] * s_disk
        br += F * sa
        bph += F * ca
        br_r += F * sa * inv_r
        bph_r += F * ca * inv_r
        dbr_dr += dF_dr * sa
        dbr_dp += dF_dp * sa
        dbr_dz += dF_dz * sa
        dbph_dr += dF_dr * ca
        dbph_dp += dF_dp * ca
        dbph_dz += dF_dz * ca

    # ------------------------------------------------------------ X field (and twisted halo)
    if s_x != 0.0 or (s_tor != 0.0 and twisted):
        xbr, xbr_r, xbz, xdbr_dr, xdbr_dz, xdbz_dr, xdbz_dz = _xfield(p, r, az, sz)
        if s_x != 0.0:
            br += s_x * xbr
            br_r += s_x * xbr_r
            bz += s_x * xbz
            dbr_dr += s_x * xdbr_dr
            dbr_dz += s_x * xdbr_dz
            dbz_dr += s_x * xdbz_dr
            dbz_dz += s_x * xdbz_dz
        if s_tor != 0.0 and twisted:
            # twisted halo, Eq. (43)-(47): B_phi = tau (B_z Delta_z + B_r Delta_r)
            tau_v0 = p[P_TAU] * _V0 * s_tor
            dz_, dz_r, ddz_dr, ddz_dz, dr_, ddr_dr, ddr_dz = _twist(tau_v0, r, az, sz, on_axis, inv_r)
            bph += xbz * dz_ + xbr * dr_
            bph_r += xbz * dz_r + xbr_r * dr_
            dbph_dr += xdbz_dr * dz_ + xbz * ddz_dr + xdbr_dr * dr_ + xbr * ddr_dr
            dbph_dz += xdbz_dz * dz_ + xbz * ddz_dz + xdbr_dz * dr_ + xbr * ddr_dz

    # ------------------------------------------------------------ toroidal halo, Eq. (21)
    if s_tor != 0.0 and not twisted:
        b0 = (p[P_BS] if z < 0.0 else p[P_BN]) * s_tor
        st, st_c = _sig((r - p[P_RT]) * p[D_INV_WT])
        ez = math.exp(-az * p[D_INV_ZT])
        t = b0 * st_c * ez
        bt = t * sgz
        bph += bt
        bph_r += bt * inv_r
        dbph_dr += -bt * st * p[D_INV_WT]
        dbph_dz += t * (dsgz - sz * sgz * p[D_INV_ZT])

    # ------------------------------------------------------------ to Cartesian
    bx = br * c - bph * s
    by = br * s + bph * c
    rx = c * dbr_dr - s * dbph_dr
    px = c * dbr_dp - s * br_r - s * dbph_dp - c * bph_r
    ry = s * dbr_dr + c * dbph_dr
    py = s * dbr_dp + c * br_r + c * dbph_dp - s * bph_r
    return (bx, by, bz,
            c * rx - s * px, c * ry - s * py, c * dbz_dr,
            s * rx + c * px, s * ry + c * py, s * dbz_dr,
            c * dbr_dz - s * dbph_dz, s * dbr_dz + c * dbph_dz, dbz_dz)


@njit(cache=True, error_model="numpy")
def _eval_many(p, pts, out):
    for i in range(pts.shape[0]):
        x = pts[i, 0]
        y = pts[i, 1]
        z = pts[i, 2]
        f = uf23_field(p, x, y, z, math.sqrt(x * x + y * y))
        for j in range(12):
            out[i, j] = f[j]


def evaluate_uf23(p, points_kpc) -> tuple[np.ndarray, np.ndarray]:
    """B (μG, shape (n, 3)) and J (μG/kpc, shape (n, 3, 3), J[i, j] = ∂B_j/∂x_i) at ``points_kpc``."""
    pts = np.ascontiguousarray(np.atleast_2d(np.asarray(points_kpc, dtype=float)))
    out = np.empty((pts.shape[0], 12))
    _eval_many(np.ascontiguousarray(p, dtype=float), pts, out)
    return out[:, :3], out[:, 3:].reshape(-1, 3, 3)


def uf23_divergence_residual(p, points_kpc) -> np.ndarray:
    """Analytic ∇·B (μG/kpc) of the UF23 disk, the only non-solenoidal part of the model.

    Spiral: (r_ref/r) sin α b(φ₀) h_d(z) g_d'(r); spur: (r_S/r²) cos α B(φ₀) h_d(z) g_S'(φ)
    (zero outside the k = 0 winding).  Evaluated independently of ``uf23_field``
    (plain numpy), times the disk scale factor; zero beyond R_max.
    """
    pts = np.atleast_2d(np.asarray(points_kpc, dtype=float))
    x, y, z = pts.T
    r = np.hypot(x, y)
    s_disk = p[P_S_DISK]
    hd = 1.0 / (1.0 + np.exp((np.abs(z) - p[P_ZD]) / p[P_WD]))
    alpha = math.radians(p[P_ALPHA])
    phi = np.arctan2(y, x)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if p[P_DISK_FORM] == 0.0:
            phi0 = phi - np.log(r / _R_REF) / math.tan(alpha)
            b = sum(p[P_B1 + m - 1] * np.cos(m * (phi0 - math.radians(p[P_PHI1 + m - 1]))) for m in (1, 2, 3))
            # g_d'(r), g_d = (1 - e^{-r^2}) σ(r; 5, 0.5) (1 - σ(r; 20, 0.5))
            ei = np.exp(-(r - _R_IN) * _INV_W_IN)
            eo = np.exp(-(r - _R_OUT) * _INV_W_OUT)
            s_i = 1 / (1 + ei)
            s_o = 1 / (1 + eo)
            c_i = ei / (1 + ei)          # 1 - s_i without cancellation
            c_o = eo / (1 + eo)          # 1 - s_o
            g1 = -np.expm1(-r * r)
            dg = (2 * r * np.exp(-r * r) * s_i * c_o + g1 * s_i * c_i * _INV_W_IN * c_o
                  - g1 * s_i * s_o * c_o * _INV_W_OUT)
            div = _R_REF / r * math.sin(alpha) * b * hd * dg
        else:
            phi = np.where(phi < 0, phi + _TWO_PI, phi)
            phi1 = math.radians(p[P_PHI1])
            tan_a = math.tan(alpha)
            rr = [_R_SPUR * np.exp((phi - phi1 + k * _TWO_PI) * tan_a) for k in (-1, 0, 1)]
            dist = np.stack([np.abs(r - q) for q in rr])
            keep = np.argmin(dist, axis=0) == 1
            phi0 = phi - np.log(r / _R_SPUR) / tan_a
            dphi0 = np.arccos(np.clip(np.cos(phi0 - phi1), -1, 1))
            bs = p[P_B1] * np.exp(-0.5 * (dphi0 / math.radians(p[P_WS])) ** 2)
            dcs = phi - math.radians(p[P_PHIC])
            dcs = (dcs + np.pi) % _TWO_PI - np.pi
            eg = np.exp(-(np.abs(dcs) - math.radians(p[P_LS])) * _INV_W_GATE)
            dgs = -np.where(dcs < 0, -1.0, 1.0) * eg / (1 + eg) ** 2 * _INV_W_GATE   # σ(1 - σ)/w
            div = np.where(keep, _R_SPUR / r ** 2 * math.cos(alpha) * bs * hd * dgs, 0.0)
    div = np.where((r > R_AXIS) & (r * r + z * z <= p[D_RMAX2]), div, 0.0)
    return s_disk * div
