"""Jansson & Farrar (2012) Galactic magnetic field: regular field, its solenoidal version
(Kleimann et al. 2019) and the random-field rms amplitude, with analytic Jacobians.

Conventions (docs/physics.md §0)
---------------------------
Right-handed Galactocentric Cartesian frame in kpc, Galactic Centre at the origin, **Sun at
(−8.5, 0, 0)** (R⊙ = 8.5 kpc, as in JF12), z towards the North Galactic Pole; φ = atan2(y, x),
r = sqrt(x² + y²), r̂ = (cos φ, sin φ, 0), φ̂ = (−sin φ, cos φ, 0).  Fields in μG.  Every field
function takes ``(p, x, y, z, r)`` with r = sqrt(x² + y²) supplied by the caller, like the models
of :mod:`sdeprop.models.field`, and returns the 12-tuple

    (Bx, By, Bz, J00, J01, J02, J10, J11, J12, J20, J21, J22),   J_ij = ∂B_j/∂x_i  [μG/kpc].

Choices stated once here (they match CRPropa3 ``JF12Field``/``JF12FieldSolenoidal`` at commit
db97df1 unless said otherwise):

* the whole regular field is zero for spherical radius x² + y² + z² ≥ r_max² (r_max = 20 kpc
  by default, parameter ``r_max``; ``r_max=inf`` removes the cut).  The random amplitude uses
  the same cut.
* the toroidal halo and (plain JF12 only) the X-field are zero inside the sphere of radius
  ``r_exclusion`` = 1 kpc (CRPropa); the solenoidal X-field has no exclusion sphere.
* z = 0 belongs to the northern hemisphere (sgn(0) = +1): the toroidal halo takes its northern
  branch and the X-field's B_r its z → 0⁺ value.  One-sided z-derivatives at z = 0 likewise.
* the X-field's inner-region elevation angle is written as tan Θ = r_Xc tan Θ_X⁰ / r_p, the
  z → 0 limit of atan(|z| / (r − r_p)).  CRPropa instead puts Θ = 90° at exactly z = 0
  (a measure-zero discontinuity); the two agree everywhere else.
* on the z axis (r = 0) exactly, the toroidal halo's B_φ (genuinely singular there in JF12 for
  |z| > 1 kpc) is set to zero; for r > 0 its Jacobian carries the genuine B_φ/r terms.
* the spiral-sector jumps of the plain disk (and at r = 3, 5 kpc, at the spheres) are genuine
  discontinuities of JF12: the Jacobian returned is the derivative inside the region.
* divergence: inside every region both models have ∇·B = 0 (trace(J) ≈ 1e-15 |B|/kpc).  Plain
  JF12's divergence sits on surfaces: r = 5 kpc where the spiral field lines start (B_r jumps
  from 0 to b_i sin p), the 1 kpc exclusion sphere of the X-field and the r_max sphere.  The
  solenoidal model removes the first two; its remaining jumps are tangential (B_φ = −q(r_a) H
  sin p at r₁ = 5 and r₂ = 20 kpc, the sector edges inside the transition zones, the X-field's
  inner/outer edge where |B| jumps, the halo's north/south switch at z = 0), so only the
  r_max sphere carries divergence.  The inner X-field's B_z has a conical cusp on the z axis
  (e^{−r_p/r_X} has a finite slope at r = 0).

Models
------
``jf12_field``  JF12 regular field (Jansson & Farrar 2012a, ApJ 757, 14, Table 1):
  disk (molecular ring 3–5 kpc + 8 logarithmic-spiral sectors, pitch 11.5°), toroidal halo,
  X-field; logistic L(s; h, w) = 1/(1 + exp(−2(|s| − h)/w)) with the factor 2.
  b_8 is by default fixed by zero net flux with the exact sector widths (2.7572 μG; the paper
  prints 2.7, which CRPropa uses; the paper's rounded sector fractions give 2.755).  The
  southern halo radius r_s = 16.7 kpc is the paper's lower limit (CRPropa uses 17 kpc).

``jf12_solenoidal_field``  Kleimann, Schorlepp, Merten & Becker Tjus 2019 (ApJ 877, 76):
  spiral disk confined to 5 < r < 20 kpc with flux-diverting transition zones of width Δ and
  parabolic X-field lines for |z| ≤ z_s (docs/physics.md §1.2; CRPropa ``JF12FieldSolenoidal``).
  The molecular ring (azimuthal, hence already solenoidal) is kept by default; CRPropa omits it
  (``ring=0`` reproduces CRPropa).  Fully analytic Jacobian; ∇·B = trace(J) vanishes to rounding.

``jf12_random_amplitude``  JF12 random-field rms |δB| (Jansson & Farrar 2012b, ApJL 761, L11;
  docs/physics.md §1.1 d).  Scalar; no Jacobian.

Analytic Jacobian
-----------------
Each component is written in cylindrical components (B_r, B_φ, B_z)(r, φ, z) with the
derivatives ∂_r, (1/r)∂_φ, ∂_z; ``_cyl_to_cart`` then uses ∂_x = cos φ ∂_r − sin φ (1/r)∂_φ,
∂_y = sin φ ∂_r + cos φ (1/r)∂_φ and ∂_φ r̂ = φ̂, ∂_φ φ̂ = −r̂, so that trace(J) =
∂_r B_r + B_r/r + (1/r)∂_φ B_φ + ∂_z B_z exactly.  Per component:

* disk/ring, B ∝ b (r_ref/r) f(z) with f = 1 − L(z): ∂_r B = −B/r, ∂_z B = B f′/f with
  f′ = −sgn(z)(2/w) L(1 − L); inside a sector b is constant, so (1/r)∂_φ B = 0.
* toroidal halo B_φ = e^{−|z|/z0} L(z) B_{n,s} [1 − L(r; r_{n,s}, w_h)]: ∂_r from the radial
  logistic, ∂_z = sgn(z) B_φ [−1/z0 + (2/w)(1 − L(z))].
* X-field, inner region (r < r_c): the straight lines all meet at the focus (0, −sgn z · a),
  a = r_Xc tan Θ_X⁰, so with ζ = a + |z|, k = a/ζ, r_p = k r, R² = r² + ζ²:
  B = Q (sgn z · r, ζ), Q = B_X e^{−r_p/r_X} k²/R, ∂_r ln Q = −k/r_X − r/R²,
  ∂_ζ ln Q = k r/(r_X ζ) − 2/ζ − ζ/R²  (and ∂_r(rB_r)/r + ∂_z B_z = 0 identically).
  Outer region: B = M (sgn z cos Θ_X⁰, sin Θ_X⁰), M = B_X e^{−r_p/r_X} r_p/r, r_p = r − |z| cot Θ_X⁰,
  ∂_r ln M = −1/r_X + 1/r_p − 1/r, ∂_|z| ln M = cot Θ_X⁰ (1/r_X − 1/r_p).
* solenoidal disk: B_r = P b sin p f, B_φ = (P b cos p − Q H sin p) f with φ₁ = φ − cot p ln(r/r₁),
  dH/dφ₁ = b, ∂φ₁/∂r = −cot p/r: ∂_r B_r = P′ b sin p f, ∂_r B_φ = (P′ b cos p − Q′ H sin p
  + Q b cos p / r) f, (1/r)∂_φ B_φ = −Q b sin p f / r.
* solenoidal X, |z| ≤ z_s: B_r = (z/z_s) F(r, z) B_r0(r₀), B_z = F B_z0(r₀) with r₀(r, z), F(r, z)
  from docs/physics.md §1.2 and (B_r0, B_z0) the straight-line field at (r₀, z_s); chain rule
  through r₀ and F (formulas in ``_x_parabolic``).

References checked: CRPropa3 ``src/magneticField/JF12Field.cpp`` and ``JF12FieldSolenoidal.cpp``
(commit db97df14c25b86bb0a13aba0ae1d285a6747ef76); gammaALPs ``gammaALPs/bfields/gmf.py``
(commit 1eac398b) for the X-field inner elevation angle and the b_8 from the paper's fractions.
No code was copied.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .cylindrical import azimuth

# ---------------------------------------------------------------------------------------------
# parameter layouts
# ---------------------------------------------------------------------------------------------

# --- regular JF12 (also the first N_JF12 entries of the solenoidal array) ---
J_S_DISK = 0      # scale factor of the whole disk (spiral + ring); 0 switches it off
J_S_RING = 1      # extra factor on the molecular ring only (disk on: ring = S_DISK·S_RING)
J_S_HALO = 2      # scale factor of the toroidal halo
J_S_X = 3         # scale factor of the X-field
J_RMAX2 = 4       # r_max² [kpc²]: field zero for x²+y²+z² >= r_max²
J_REXCL2 = 5      # r_exclusion² [kpc²]: halo (and plain X-field) zero for x²+y²+z² <= this
J_H_DISK = 6      # h_disk [kpc]
J_K_DISK = 7      # 2 / w_disk [1/kpc]
J_B_RING = 8      # b_ring [μG]
J_R_RING = 9      # inner edge of the molecular ring [kpc] (3)
J_R_REF = 10      # reference radius 5 kpc: ring/spiral boundary and the (r_ref/r) scaling
J_SIN_P = 11      # sin(pitch)
J_COS_P = 12      # cos(pitch)
J_TAN_P = 13      # tan(pitch)
J_COT_P = 14      # cot(pitch)
J_WIND = 15       # 2π tan(pitch): ln-radius step of one winding
J_B = 16          # 16..23: b_1..b_8 [μG]
J_LNR = 24        # 24..31: ln r_1..ln r_8, arm boundaries on the negative x axis
J_BN = 32         # B_n [μG]
J_BS = 33         # B_s [μG]
J_RN = 34         # r_n [kpc]
J_RS = 35         # r_s [kpc]
J_K_HALO = 36     # 2 / w_h [1/kpc]
J_INV_Z0 = 37     # 1 / z0 [1/kpc]
J_BX = 38         # B_X [μG]
J_RXC = 39        # r_Xc [kpc]
J_INV_RX = 40     # 1 / r_X [1/kpc]
J_AX = 41         # a = r_Xc tan Θ_X⁰ [kpc] (focus depth of the inner X lines)
J_COT_X = 42      # cot Θ_X⁰
J_SIN_X = 43      # sin Θ_X⁰
J_COS_X = 44      # cos Θ_X⁰
J_RING_N = 45     # exponent n of the ring profile b_ring (r_ref/r)^n (1: CRPropa, docs/physics.md §1.1;
                  # 0: constant)
N_JF12 = 46

JF12_PARAM_NAMES = (
    "scale_disk", "scale_ring", "scale_halo", "scale_x", "r_max^2", "r_exclusion^2", "h_disk",
    "2/w_disk", "b_ring", "r_ring_inner", "r_ref", "sin_pitch", "cos_pitch", "tan_pitch",
    "cot_pitch", "2pi_tan_pitch",
    *(f"b{i}" for i in range(1, 9)), *(f"ln_r{i}" for i in range(1, 9)),
    "B_n", "B_s", "r_n", "r_s", "2/w_h", "1/z0", "B_X", "r_Xc", "1/r_X", "r_Xc_tan_theta_X0",
    "cot_theta_X0", "sin_theta_X0", "cos_theta_X0", "ring_exponent",
)

# --- solenoidal block (appended after the N_JF12 regular entries) ---
S_R1 = 46         # r₁ = 5 kpc, inner edge of the spiral disk
S_R2 = 47         # r₂ = 20 kpc, outer edge
S_R1S = 48        # r₁ + Δ
S_R2S = 49        # r₂ − Δ (= r₂ when the outer transition is off)
S_PRE1 = 50       # r₁ / (r₁ + Δ)
S_PRE2 = 51       # r₁ / (r₂ − Δ)
S_FAC1 = 52       # (r₁/r_b − 2)/(r₁ − r_b)², r_b = r₁ + Δ
S_FAC2 = 53       # (r₂/r_b − 2)/(r₂ − r_b)², r_b = r₂ − Δ
S_ZS = 54         # z_s [kpc]
S_AZ = 55         # 1 / (2 (z_s + a))
S_R0C = 56        # r_Xc + z_s cot Θ_X⁰
S_PSI = 57        # 57..67: ψ_0..ψ_10, sector edges on the r₁ circle (ψ_0 = ψ_8 + 2π, ψ_9,10 = ψ_1,2 − 2π)
S_BD = 68         # 68..78: b(ψ) per sector index 0..10 (b_8, b_1..b_8, b_1, b_2)
S_HC = 79         # 79..89: H(φ₁) = b[idx] φ₁ + HC[idx], idx 0..10 (H(φ₀) = 0)
S_LNR1 = 90       # ln r₁
S_INV_ZS = 91     # 1 / z_s (0 when z_s = 0)
S_K0 = 92         # a / (a + z_s): k of the straight inner X lines at z = z_s
N_JF12_SOL = 93

# --- random-field amplitude ---
R_S_DISK = 0      # scale factor of the disk random field
R_S_HALO = 1      # scale factor of the halo random field
R_RMAX2 = 2       # r_max² [kpc²]
R_B_INT = 3       # b_int [μG] (r < r_ref)
R_R_REF = 4       # 5 kpc
R_INV_2ZD2 = 5    # 1 / (2 z_d²)
R_B0 = 6          # B_0 [μG]
R_INV_R0 = 7      # 1 / r_0
R_INV_2ZH2 = 8    # 1 / (2 z_h²)
R_TAN_P = 9       # tan(pitch)
R_WIND = 10       # 2π tan(pitch)
R_B = 11          # 11..18: b_1..b_8 random [μG]
R_LNR = 19        # 19..26: ln r_1..ln r_8
N_JF12_RANDOM = 27

JF12_RANDOM_PARAM_NAMES = (
    "scale_disk", "scale_halo", "r_max^2", "b_int", "r_ref", "1/(2 z_d^2)", "B_0", "1/r_0",
    "1/(2 z_h^2)", "tan_pitch", "2pi_tan_pitch", *(f"b{i}_rand" for i in range(1, 9)),
    *(f"ln_r{i}" for i in range(1, 9)),
)

# ---------------------------------------------------------------------------------------------
# published parameter values
# ---------------------------------------------------------------------------------------------

_TWO_PI = 2.0 * math.pi
_INV_TWO_PI = 0.5 / math.pi

R_SUN_KPC = 8.5
SUN_POSITION_KPC = (-8.5, 0.0, 0.0)

# Jansson & Farrar 2012a, Table 1 (b_8 derived, see jf12_b8_from_flux)
JF12_DEFAULTS = dict(
    disk=1.0, ring=1.0, halo=1.0, x=1.0,
    r_max=20.0, r_exclusion=1.0,
    b_arms=(0.1, 3.0, -0.9, -0.8, -2.0, -4.2, 0.0), b8=None,
    b_ring=0.1, ring_exponent=1.0, h_disk=0.40, w_disk=0.27, r_ring_inner=3.0, r_ref=5.0,
    pitch_deg=11.5, r_arms=(5.1, 6.3, 7.1, 8.3, 9.8, 11.4, 12.7, 15.5),
    B_n=1.4, B_s=-1.1, r_n=9.22, r_s=16.7, w_h=0.20, z0=5.3,
    B_X=4.6, theta_X0_deg=49.0, r_Xc=4.8, r_X=2.9,
)
# Planck Collaboration Int. XLII (2016) "JF12b Planck" tuning, as in CRPropa PlanckJF12bField
_PLANCK_REGULAR = dict(b6=-3.5, B_X=1.8)

# Jansson & Farrar 2012b random field
JF12_RANDOM_DEFAULTS = dict(
    disk=1.0, halo=1.0, r_max=20.0,
    b_arms=(10.81, 6.96, 9.59, 6.96, 1.96, 16.34, 37.29, 10.35),
    b_int=7.63, r_ref=5.0, z_d=0.61, B0=4.68, r0=10.97, z_h=2.84,
    pitch_deg=11.5, r_arms=(5.1, 6.3, 7.1, 8.3, 9.8, 11.4, 12.7, 15.5),
)
_PLANCK_RANDOM = dict(b_arms=(3.12, 6.24, 3.12, 6.24, 3.12, 6.24, 3.12, 6.24), b_int=3.90, B0=7.332)

# Kleimann et al. 2019 / CRPropa defaults
JF12_SOLENOIDAL_DEFAULTS = dict(delta=3.0, z_s=0.5, phi0=0.0, outer_transition=True, r_disk_outer=20.0)


def _sector_widths(r_arms, pitch_deg):
    """Angular widths (rad) of the 8 spiral sectors at any fixed r: cot p · ln(r_i / r_{i−1}),
    with r_0 = r_8 e^{−2π tan p} (one winding inwards)."""
    tp = math.tan(math.radians(pitch_deg))
    r = np.asarray(r_arms, dtype=float)
    lo = np.concatenate(([r[7] * math.exp(-2.0 * math.pi * tp)], r[:7]))
    return np.log(r / lo) / tp


def jf12_b8_from_flux(b_arms7, r_arms=JF12_DEFAULTS["r_arms"], pitch_deg=JF12_DEFAULTS["pitch_deg"]) -> float:
    """b_8 [μG] such that the net radial flux of the spiral disk through any circle vanishes:
    Σ_i b_i Δφ_i = 0 with the exact sector widths Δφ_i (2.7572 μG for the published b_1..b_7;
    JF12 Table 1 prints 2.7; their rounded sector fractions give 2.755)."""
    w = _sector_widths(r_arms, pitch_deg)
    b = np.asarray(b_arms7, dtype=float)
    return float(-np.dot(w[:7], b[:7]) / w[7])


def _as_scale(v, name):
    if isinstance(v, (bool, np.bool_)):
        return 1.0 if v else 0.0
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"{name} scale factor must be finite, got {v}")
    return v


def _resolve(defaults, overrides, variant_table, variant):
    cfg = dict(defaults)
    cfg["b_arms"] = list(cfg["b_arms"])
    if variant == "planck":
        for k, v in variant_table.items():
            if k.startswith("b") and k[1:].isdigit():
                cfg["b_arms"][int(k[1:]) - 1] = v
            else:
                cfg[k] = list(v) if k == "b_arms" else v
    elif variant != "jf12":
        raise ValueError(f"unknown JF12 variant {variant!r} (use 'jf12' or 'planck')")
    overrides = dict(overrides)
    if "b_arms" in overrides:
        cfg["b_arms"] = [float(v) for v in overrides.pop("b_arms")]
    for k, v in overrides.items():
        if k.startswith("b") and k[1:].isdigit() and 1 <= int(k[1:]) <= len(cfg["b_arms"]):
            cfg["b_arms"][int(k[1:]) - 1] = float(v)
        elif k == "b8" and "b8" in cfg:
            cfg["b8"] = v
        elif k in cfg:
            cfg[k] = v
        else:
            n_b = len(cfg["b_arms"]) + ("b8" in cfg)
            raise TypeError(f"unknown JF12 parameter {k!r}; known: {sorted(cfg)} and b1..b{n_b}")
    r_arms = np.asarray(cfg["r_arms"], dtype=float)
    if r_arms.shape != (8,) or np.any(np.diff(r_arms) <= 0) or r_arms[0] <= 0:
        raise ValueError("r_arms must be 8 increasing positive radii [kpc]")
    if not 0.0 < float(cfg["pitch_deg"]) < 90.0:
        raise ValueError("pitch_deg must lie in (0, 90)")
    return cfg


def jf12_params(variant: str = "jf12", **overrides) -> np.ndarray:
    """JF12 regular-field parameters as a float64 array of length ``N_JF12`` (layout: the
    ``J_*`` index constants and ``JF12_PARAM_NAMES``).

    Keywords (defaults in ``JF12_DEFAULTS``; lengths kpc, fields μG, angles degrees):

    * ``disk``, ``ring``, ``halo``, ``x``: on/off (bool) or scale factor of each component
      (``ring`` multiplies the molecular ring on top of ``disk``);
    * ``r_max`` (outer spherical cut, 20; ``inf`` for none), ``r_exclusion`` (1: sphere without
      toroidal halo and X-field);
    * disk: ``b_arms`` (b_1..b_7, or all 8) or ``b1``..``b8``; ``b8`` (default None: zero net flux,
      2.7572; 2.7 reproduces CRPropa); ``b_ring``; ``ring_exponent`` n of the ring profile
      b_ring (r_ref/r)^n (1 as in CRPropa, hammurabiX and docs/physics.md §1.1; 0, a constant b_ring, as in
      gammaALPs; the paper's form was not verified); ``h_disk``, ``w_disk``, ``r_ring_inner``,
      ``r_ref``, ``pitch_deg``, ``r_arms``;
    * toroidal halo: ``B_n``, ``B_s``, ``r_n``, ``r_s`` (16.7, the paper's lower limit; CRPropa 17),
      ``w_h``, ``z0``;
    * X-field: ``B_X``, ``theta_X0_deg``, ``r_Xc``, ``r_X``;
    * ``variant="planck"`` starts from the Planck-tuned "JF12b" values (b_6 = −3.5, B_X = 1.8 μG).
    """
    cfg = _resolve(JF12_DEFAULTS, overrides, _PLANCK_REGULAR, variant)
    b = list(cfg["b_arms"])
    if len(b) == 8:
        if cfg["b8"] is not None:
            raise TypeError("give b_8 either in b_arms or as b8, not both")
        b8 = b[7]
        b = b[:7]
    elif len(b) == 7:
        b8 = cfg["b8"]
    else:
        raise ValueError("b_arms needs 7 (b_8 derived) or 8 values")
    if b8 is None:
        b8 = jf12_b8_from_flux(b, cfg["r_arms"], cfg["pitch_deg"])
    b = np.array(b + [float(b8)])

    p = np.zeros(N_JF12)
    p[J_S_DISK] = _as_scale(cfg["disk"], "disk")
    p[J_S_RING] = _as_scale(cfg["ring"], "ring")
    p[J_S_HALO] = _as_scale(cfg["halo"], "halo")
    p[J_S_X] = _as_scale(cfg["x"], "x")
    p[J_RMAX2] = float(cfg["r_max"]) ** 2
    p[J_REXCL2] = float(cfg["r_exclusion"]) ** 2
    p[J_H_DISK] = cfg["h_disk"]
    p[J_K_DISK] = 2.0 / cfg["w_disk"]
    p[J_B_RING] = cfg["b_ring"]
    p[J_R_RING] = cfg["r_ring_inner"]
    p[J_R_REF] = cfg["r_ref"]
    pitch = math.radians(cfg["pitch_deg"])
    p[J_SIN_P] = math.sin(pitch)
    p[J_COS_P] = math.cos(pitch)
    p[J_TAN_P] = math.tan(pitch)
    p[J_COT_P] = 1.0 / math.tan(pitch)
    p[J_WIND] = 2.0 * math.pi * math.tan(pitch)
    p[J_B:J_B + 8] = b
    p[J_LNR:J_LNR + 8] = np.log(np.asarray(cfg["r_arms"], dtype=float))
    p[J_BN] = cfg["B_n"]
    p[J_BS] = cfg["B_s"]
    p[J_RN] = cfg["r_n"]
    p[J_RS] = cfg["r_s"]
    p[J_K_HALO] = 2.0 / cfg["w_h"]
    p[J_INV_Z0] = 1.0 / cfg["z0"]
    p[J_BX] = cfg["B_X"]
    p[J_RXC] = cfg["r_Xc"]
    p[J_INV_RX] = 1.0 / cfg["r_X"]
    th = math.radians(cfg["theta_X0_deg"])
    p[J_AX] = cfg["r_Xc"] * math.tan(th)
    p[J_COT_X] = 1.0 / math.tan(th)
    p[J_SIN_X] = math.sin(th)
    p[J_COS_X] = math.cos(th)
    p[J_RING_N] = cfg["ring_exponent"]
    if not np.all(np.isfinite(np.delete(p, J_RMAX2))):
        raise ValueError("non-finite JF12 parameter")
    return p


def jf12_solenoidal_params(delta: float = 3.0, z_s: float = 0.5, phi0: float = 0.0,
                           outer_transition: bool = True, r_disk_outer: float = 20.0, variant: str = "jf12",
                           **overrides) -> np.ndarray:
    """Solenoidal JF12 (Kleimann et al. 2019) parameters: float64 array of length ``N_JF12_SOL``.

    Entries 0..N_JF12−1 follow the regular layout (same keywords as :func:`jf12_params`, except
    that ``b8`` cannot be given: it is always derived from zero net flux, which the solenoidal
    construction needs, 2.7572 μG); the ``S_*`` block follows.  ``delta`` is the width Δ [kpc] of
    the two disk transition zones (0 ≤ Δ < (r₂ − r₁)/2 = 7.5 kpc), ``z_s`` the half-height [kpc]
    of the parabolic X-field region, ``phi0`` the lower limit of the H(φ₁) integral (CRPropa: 0;
    it adds an axisymmetric azimuthal field inside the transition zones), ``outer_transition``
    False keeps the spiral field undamped up to r₂ (CRPropa ``deactivateOuterTransition``).
    The molecular ring is kept (``ring=0`` reproduces CRPropa, which omits it).
    """
    if "b8" in overrides or len(overrides.get("b_arms", ())) == 8:
        raise TypeError("the solenoidal JF12 derives b_8 from zero net flux; give b1..b7 only")
    base = jf12_params(variant=variant, **overrides)
    r1 = base[J_R_REF]
    r2 = float(r_disk_outer)
    delta = float(delta)
    if not 0.0 <= delta < 0.5 * (r2 - r1):
        raise ValueError(f"delta must lie in [0, {0.5 * (r2 - r1)}) kpc, got {delta}")
    if not z_s >= 0.0:
        raise ValueError("z_s must be >= 0")
    if not -math.pi <= phi0 <= math.pi:
        raise ValueError("phi0 must lie in [-pi, pi]")
    p = np.zeros(N_JF12_SOL)
    p[:N_JF12] = base
    r1s = r1 + delta
    r2s = r2 - delta if outer_transition else r2
    p[S_R1] = r1
    p[S_R2] = r2
    p[S_R1S] = r1s
    p[S_R2S] = r2s
    p[S_PRE1] = r1 / r1s
    p[S_PRE2] = r1 / r2s
    p[S_FAC1] = (r1 / r1s - 2.0) / (r1 - r1s) ** 2 if r1s > r1 else 0.0
    p[S_FAC2] = (r2 / r2s - 2.0) / (r2 - r2s) ** 2 if r2s < r2 else 0.0
    p[S_ZS] = z_s
    a = base[J_AX]
    p[S_AZ] = 1.0 / (2.0 * (z_s + a))
    p[S_R0C] = base[J_RXC] + z_s * base[J_COT_X]
    # sector edges on the r1 circle and field per sector
    cot = base[J_COT_P]
    r_arms = np.exp(base[J_LNR:J_LNR + 8])
    psi = np.empty(11)
    psi[1:9] = math.pi - cot * np.log(r_arms / r1)
    psi[0] = psi[8] + 2.0 * math.pi
    psi[9] = psi[1] - 2.0 * math.pi
    psi[10] = psi[2] - 2.0 * math.pi
    b = base[J_B:J_B + 8]
    bd = np.empty(11)
    bd[1:9] = b
    bd[0] = b[7]
    bd[9] = b[0]
    bd[10] = b[1]
    # H(φ₁) = bd[i] φ₁ + hc[i] on ψ_i <= φ₁ < ψ_{i−1}, continuous at every ψ_i
    if not (psi[0] >= math.pi and psi[10] <= -math.pi):
        raise ValueError("spiral sectors do not tile the r1 circle: need r_arms[0] >= r_ref and "
                         "cot(pitch) ln(r_8/r_ref) <= 2 pi")
    hc = np.zeros(11)
    for i in range(1, 11):
        hc[i] = hc[i - 1] + (bd[i - 1] - bd[i]) * psi[i - 1]
    i0 = 1
    while phi0 < psi[i0]:
        i0 += 1
    hc -= hc[i0] + bd[i0] * phi0
    p[S_PSI:S_PSI + 11] = psi
    p[S_BD:S_BD + 11] = bd
    p[S_HC:S_HC + 11] = hc
    p[S_LNR1] = math.log(r1)
    p[S_INV_ZS] = 1.0 / z_s if z_s > 0.0 else 0.0
    p[S_K0] = a / (a + z_s)
    return p


def jf12_random_params(variant: str = "jf12", **overrides) -> np.ndarray:
    """JF12 random-field amplitude parameters: float64 array of length ``N_JF12_RANDOM``
    (layout: ``R_*`` constants and ``JF12_RANDOM_PARAM_NAMES``).

    Keywords (defaults in ``JF12_RANDOM_DEFAULTS``): ``disk``, ``halo`` (on/off or scale factor),
    ``r_max``, ``b_arms`` (8 values) or ``b1``..``b8``, ``b_int``, ``r_ref``, ``z_d``, ``B0``,
    ``r0``, ``z_h``, ``pitch_deg``, ``r_arms``.  ``variant="planck"``: Planck-tuned values.
    """
    cfg = _resolve(JF12_RANDOM_DEFAULTS, overrides, _PLANCK_RANDOM, variant)
    if len(cfg["b_arms"]) != 8:
        raise ValueError("b_arms needs 8 values for the random field")
    p = np.zeros(N_JF12_RANDOM)
    p[R_S_DISK] = _as_scale(cfg["disk"], "disk")
    p[R_S_HALO] = _as_scale(cfg["halo"], "halo")
    p[R_RMAX2] = float(cfg["r_max"]) ** 2
    p[R_B_INT] = cfg["b_int"]
    p[R_R_REF] = cfg["r_ref"]
    p[R_INV_2ZD2] = 0.5 / cfg["z_d"] ** 2
    p[R_B0] = cfg["B0"]
    p[R_INV_R0] = 1.0 / cfg["r0"]
    p[R_INV_2ZH2] = 0.5 / cfg["z_h"] ** 2
    tp = math.tan(math.radians(cfg["pitch_deg"]))
    p[R_TAN_P] = tp
    p[R_WIND] = 2.0 * math.pi * tp
    p[R_B:R_B + 8] = np.asarray(cfg["b_arms"], dtype=float)
    p[R_LNR:R_LNR + 8] = np.log(np.asarray(cfg["r_arms"], dtype=float))
    return p


# ---------------------------------------------------------------------------------------------
# jitted building blocks
# ---------------------------------------------------------------------------------------------


@njit(cache=True, inline="always", error_model="numpy")
def _logistic(s, h, k):
    """L = 1/(1 + exp(−k (s − h))), k = 2/w (s = |z| or r, already non-negative)."""
    return 1.0 / (1.0 + math.exp(-k * (s - h)))


@njit(cache=True, inline="always", error_model="numpy")
def _ring_amplitude(p, r, inv_r):
    """S_RING · b_ring (r_ref/r)^n (n = 1 by default, no pow then)."""
    n = p[J_RING_N]
    if n == 1.0:
        prof = p[J_R_REF] * inv_r
    elif n == 0.0:
        prof = 1.0
    else:
        prof = (p[J_R_REF] * inv_r) ** n
    return p[J_S_RING] * p[J_B_RING] * prof


@njit(cache=True, inline="always", error_model="numpy")
def _arm_index(p, i_tan, i_wind, i_lnr, r, phi):
    """Spiral sector 0..7 of (r, φ): ln r_{−x} = ln r + (π − φ) tan p, reduced by whole windings
    below ln r_8; the sector is the first i with ln r_{−x} < ln r_{i+1} (docs/physics.md §1.1 a)."""
    u = math.log(r) + (math.pi - phi) * p[i_tan]
    lim = p[i_lnr + 7]
    wind = p[i_wind]
    while u >= lim:
        u -= wind
    i = 0
    while i < 7 and u >= p[i_lnr + i]:
        i += 1
    return i


@njit(cache=True, inline="always", error_model="numpy")
def _cyl_to_cart(c, s, br, bp, bz, br_r, bp_r, drr, drz, dpr, dpp, dpz, dzr, dzz):
    """Cartesian B and J_ij = ∂B_j/∂x_i from cylindrical components and their derivatives.

    br, bp, bz: B_r, B_φ, B_z; br_r = B_r/r, bp_r = B_φ/r; drr = ∂_r B_r, drz = ∂_z B_r;
    dpr = ∂_r B_φ, dpp = (1/r)∂_φ B_φ, dpz = ∂_z B_φ; dzr = ∂_r B_z, dzz = ∂_z B_z
    ((1/r)∂_φ B_r = (1/r)∂_φ B_z = 0 for every JF12 component).
    """
    bx = br * c - bp * s
    by = br * s + bp * c
    # ∂_r and (1/r)∂_φ of the Cartesian components
    rbx = c * drr - s * dpr
    rby = s * drr + c * dpr
    pbx = -s * br_r - c * bp_r - s * dpp
    pby = c * br_r - s * bp_r + c * dpp
    return (bx, by, bz,
            c * rbx - s * pbx, c * rby - s * pby, c * dzr,
            s * rbx + c * pbx, s * rby + c * pby, s * dzr,
            c * drz - s * dpz, s * drz + c * dpz, dzz)


@njit(cache=True, inline="always", error_model="numpy")
def _x_straight(p, r, az, sz, inv_r):
    """Original JF12 X-field (straight lines) in cylindrical form, scaled by S_X.

    Returns (B_r, B_z, B_r/r, ∂_r B_r, ∂_z B_r, ∂_r B_z, ∂_z B_z).
    """
    sx = p[J_S_X] * p[J_BX]
    a = p[J_AX]
    inv_rx = p[J_INV_RX]
    cot = p[J_COT_X]
    if r < p[J_RXC] + az * cot:
        # inner: lines from the focus (0, −sgn z · a); B = Q (sgn z · r, ζ)
        zeta = a + az
        inv_zeta = 1.0 / zeta
        k = a * inv_zeta
        big_r2 = r * r + zeta * zeta
        inv_r2 = 1.0 / big_r2
        q = sx * math.exp(-k * r * inv_rx) * k * k * math.sqrt(inv_r2)
        dlq_r = -k * inv_rx - r * inv_r2
        dlq_z = (k * r * inv_rx - 2.0) * inv_zeta - zeta * inv_r2
        br = sz * q * r
        return (br, q * zeta, sz * q,
                sz * q * (1.0 + r * dlq_r), q * r * dlq_z,
                q * zeta * dlq_r, sz * q * (1.0 + zeta * dlq_z))
    # outer: constant elevation Θ_X⁰, |B| = B_X e^{−r_p/r_X} r_p / r
    rp = r - az * cot
    inv_rp = 1.0 / rp
    m = sx * math.exp(-rp * inv_rx) * rp * inv_r
    dlm_r = -inv_rx + inv_rp - inv_r
    dlm_z = cot * (inv_rx - inv_rp)
    br = sz * m * p[J_COS_X]
    bz = m * p[J_SIN_X]
    return (br, bz, br * inv_r, br * dlm_r, m * p[J_COS_X] * dlm_z, bz * dlm_r, sz * bz * dlm_z)


@njit(cache=True, inline="always", error_model="numpy")
def _x_parabolic(p, r, z, inv_r):
    """Kleimann et al. 2019 X-field for |z| <= z_s: parabolic lines crossing z = 0 vertically.

    With s(z) = z_s − z²/z_s (s′ = −2z/z_s) and A = 1/(2(z_s + a)):
    inner (r/(1 − A s) < r₀c): r₀ = r/u, u = 1 − A s, F = 1/u²;
        ∂_r r₀ = 1/u, ∂_z r₀ = r A s′/u², ∂_z F = 2 A s′/u³;
    outer: r₀ = r + s cot Θ_X⁰/2, F = r₀/r; ∂_r r₀ = 1, ∂_z r₀ = s′ cot Θ_X⁰/2,
        ∂_r F = (r − r₀)/r², ∂_z F = ∂_z r₀ / r.
    (B_r0, B_z0) is the straight-line field at (r₀, z_s), differentiated in r₀ as in
    ``_x_straight``; B_r = (z/z_s) F B_r0, B_z = F B_z0.
    Returns (B_r, B_z, B_r/r, ∂_r B_r, ∂_z B_r, ∂_r B_z, ∂_z B_z).
    """
    sx = p[J_S_X] * p[J_BX]
    zs = p[S_ZS]
    inv_zs = p[S_INV_ZS]
    a = p[J_AX]
    inv_rx = p[J_INV_RX]
    cot = p[J_COT_X]
    sh = zs - z * z * inv_zs
    dsh = -2.0 * z * inv_zs
    aa = p[S_AZ]
    u = 1.0 - aa * sh
    inv_u = 1.0 / u
    r0c = p[S_R0C]
    if r * inv_u < r0c:
        r0 = r * inv_u
        dr0_r = inv_u
        dr0_z = r * aa * dsh * inv_u * inv_u
        f = inv_u * inv_u
        df_r = 0.0
        df_z = 2.0 * aa * dsh * f * inv_u
        # straight inner field at (r0, z_s)
        zeta = a + zs
        k = p[S_K0]
        big_r2 = r0 * r0 + zeta * zeta
        inv_r2 = 1.0 / big_r2
        q = sx * math.exp(-k * r0 * inv_rx) * k * k * math.sqrt(inv_r2)
        dlq = -k * inv_rx - r0 * inv_r2
        b_r0 = q * r0
        b_z0 = q * zeta
        db_r0 = q * (1.0 + r0 * dlq)
        db_z0 = q * zeta * dlq
        br_over_r = z * inv_zs * f * q * inv_u
    else:
        r0 = r + 0.5 * sh * cot
        dr0_r = 1.0
        dr0_z = 0.5 * dsh * cot
        f = r0 * inv_r
        df_r = (r - r0) * inv_r * inv_r
        df_z = dr0_z * inv_r
        rp = r0 - zs * cot
        m = sx * math.exp(-rp * inv_rx) * rp / r0
        dlm = -inv_rx + 1.0 / rp - 1.0 / r0
        b_r0 = m * p[J_COS_X]
        b_z0 = m * p[J_SIN_X]
        db_r0 = b_r0 * dlm
        db_z0 = b_z0 * dlm
        br_over_r = z * inv_zs * f * b_r0 * inv_r
    zz = z * inv_zs
    br = zz * f * b_r0
    bz = f * b_z0
    return (br, bz, br_over_r,
            zz * (df_r * b_r0 + f * db_r0 * dr0_r),
            inv_zs * f * b_r0 + zz * (df_z * b_r0 + f * db_r0 * dr0_z),
            df_r * b_z0 + f * db_z0 * dr0_r,
            df_z * b_z0 + f * db_z0 * dr0_z)


@njit(cache=True, inline="always", error_model="numpy")
def _halo(p, r, sz, lz, ez):
    """Toroidal halo B_φ = e^{−|z|/z0} L(z) B_{n,s} [1 − L(r; r_{n,s}, w_h)], ez = e^{−|z|/z0};
    returns (B_φ, ∂_r B_φ, ∂_z B_φ)."""
    if sz > 0.0:
        bh = p[J_BN]
        rh = p[J_RN]
    else:
        bh = p[J_BS]
        rh = p[J_RS]
    kh = p[J_K_HALO]
    lr = _logistic(r, rh, kh)
    e = p[J_S_HALO] * ez * lz * bh
    bphi = e * (1.0 - lr)
    return (bphi, -e * kh * lr * (1.0 - lr),
            sz * bphi * (-p[J_INV_Z0] + p[J_K_DISK] * (1.0 - lz)))


# ---------------------------------------------------------------------------------------------
# public field functions
# ---------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")  # not inlined: keeps the kernel's compile time short
def jf12_field(p, x, y, z, r):
    """JF12 regular field B (μG) and Jacobian J_ij = ∂B_j/∂x_i (μG/kpc) at (x, y, z) kpc;
    r = sqrt(x² + y²).  Parameters from :func:`jf12_params`."""
    d2 = r * r + z * z
    if d2 >= p[J_RMAX2]:
        return (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    az = abs(z)
    sz = 1.0 if z >= 0.0 else -1.0
    inv_r, c, s = azimuth(x, y, r, 0.0, 1.0)
    kd = p[J_K_DISK]
    lz = _logistic(az, p[J_H_DISK], kd)
    br = 0.0
    bp = 0.0
    bz = 0.0
    br_r = 0.0
    drr = 0.0
    drz = 0.0
    dpr = 0.0
    dpz = 0.0
    dzr = 0.0
    dzz = 0.0
    sd = p[J_S_DISK]
    if sd != 0.0 and r > p[J_R_RING]:
        fz = 1.0 - lz
        dfz = -sz * kd * lz * fz
        if r < p[J_R_REF]:
            amp = _ring_amplitude(p, r, inv_r) * sd
            bp = amp * fz
            dpr = -p[J_RING_N] * bp * inv_r
            dpz = amp * dfz
        else:
            i = _arm_index(p, J_TAN_P, J_WIND, J_LNR, r, math.atan2(y, x))
            amp = sd * p[J_B + i] * p[J_R_REF] * inv_r
            sp = p[J_SIN_P]
            cp = p[J_COS_P]
            br = amp * fz * sp
            bp = amp * fz * cp
            br_r = br * inv_r
            drr = -br_r
            dpr = -bp * inv_r
            drz = amp * dfz * sp
            dpz = amp * dfz * cp
    if d2 > p[J_REXCL2]:
        if p[J_S_HALO] != 0.0 and r > 0.0:
            h = _halo(p, r, sz, lz, math.exp(-az * p[J_INV_Z0]))
            bp += h[0]
            dpr += h[1]
            dpz += h[2]
        if p[J_S_X] != 0.0:
            xf = _x_straight(p, r, az, sz, inv_r)
            br += xf[0]
            bz += xf[1]
            br_r += xf[2]
            drr += xf[3]
            drz += xf[4]
            dzr += xf[5]
            dzz += xf[6]
    return _cyl_to_cart(c, s, br, bp, bz, br_r, bp * inv_r, drr, drz, dpr, 0.0, dpz, dzr, dzz)


@njit(cache=True, error_model="numpy")  # not inlined: keeps the kernel's compile time short
def jf12_solenoidal_field(p, x, y, z, r):
    """Solenoidal JF12 (Kleimann et al. 2019) B (μG) and analytic Jacobian (μG/kpc) at
    (x, y, z) kpc; r = sqrt(x² + y²).  Parameters from :func:`jf12_solenoidal_params`."""
    d2 = r * r + z * z
    if d2 >= p[J_RMAX2]:
        return (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    az = abs(z)
    sz = 1.0 if z >= 0.0 else -1.0
    inv_r, c, s = azimuth(x, y, r, 0.0, 1.0)
    kd = p[J_K_DISK]
    lz = _logistic(az, p[J_H_DISK], kd)
    br = 0.0
    bp = 0.0
    bz = 0.0
    br_r = 0.0
    drr = 0.0
    drz = 0.0
    dpr = 0.0
    dpp = 0.0
    dpz = 0.0
    dzr = 0.0
    dzz = 0.0
    sd = p[J_S_DISK]
    if sd != 0.0:
        fz = 1.0 - lz
        dfz = -sz * kd * lz * fz
        if r > p[J_R_RING] and r < p[J_R_REF]:
            amp = _ring_amplitude(p, r, inv_r) * sd
            bp = amp * fz
            dpr = -p[J_RING_N] * bp * inv_r
            dpz = amp * dfz
        r1 = p[S_R1]
        if r > r1 and r < p[S_R2]:
            cot = p[J_COT_P]
            sp = p[J_SIN_P]
            cp = p[J_COS_P]
            phi1 = math.atan2(y, x) - cot * (math.log(r) - p[S_LNR1])
            phi1 -= _TWO_PI * math.floor((phi1 + math.pi) * _INV_TWO_PI)
            idx = 1
            while idx < 10 and phi1 < p[S_PSI + idx]:
                idx += 1
            b = p[S_BD + idx]
            hh = b * phi1 + p[S_HC + idx]
            # radial profile P(r) and Q(r) = d(rP)/dr with derivatives
            if r > p[S_R1S] and r < p[S_R2S]:
                pr = r1 * inv_r
                dpr_ = -pr * inv_r
                qr = 0.0
                dqr = 0.0
            else:
                if r >= p[S_R2S]:
                    rb = p[S_R2S]
                    pre = p[S_PRE2]
                    fk = p[S_FAC2]
                else:
                    rb = p[S_R1S]
                    pre = p[S_PRE1]
                    fk = p[S_FAC1]
                inv_rb = 1.0 / rb
                dr = r - rb
                pr = pre * (2.0 - r * inv_rb + fk * dr * dr)
                dpr_ = pre * (-inv_rb + 2.0 * fk * dr)
                qr = pre * (2.0 - 2.0 * r * inv_rb + fk * dr * (3.0 * r - rb))
                dqr = pre * (-2.0 * inv_rb + fk * (6.0 * r - 4.0 * rb))
            g_r = sd * pr * b * sp              # B_r / f(z)
            g_p = sd * (pr * b * cp - qr * hh * sp)  # B_φ / f(z)
            br = g_r * fz
            bp += g_p * fz
            br_r = br * inv_r
            drr = sd * dpr_ * b * sp * fz
            dpr += sd * (dpr_ * b * cp - dqr * hh * sp + qr * b * cp * inv_r) * fz
            dpp = -sd * qr * b * sp * fz * inv_r
            drz = g_r * dfz
            dpz += g_p * dfz
    if p[J_S_HALO] != 0.0 and d2 > p[J_REXCL2] and r > 0.0:
        h = _halo(p, r, sz, lz, math.exp(-az * p[J_INV_Z0]))
        bp += h[0]
        dpr += h[1]
        dpz += h[2]
    if p[J_S_X] != 0.0:
        if az > p[S_ZS] or p[S_ZS] <= 0.0:
            xf = _x_straight(p, r, az, sz, inv_r)
        else:
            xf = _x_parabolic(p, r, z, inv_r)
        br += xf[0]
        bz += xf[1]
        br_r += xf[2]
        drr += xf[3]
        drz += xf[4]
        dzr += xf[5]
        dzz += xf[6]
    return _cyl_to_cart(c, s, br, bp, bz, br_r, bp * inv_r, drr, drz, dpr, dpp, dpz, dzr, dzz)


@njit(cache=True, error_model="numpy")  # not inlined: keeps the kernel's compile time short
def jf12_random_amplitude(p, x, y, z, r):
    """JF12 random-field rms amplitude |δB| (μG) at (x, y, z) kpc (Jansson & Farrar 2012b):
    sqrt(b_disk² + b_halo²), b_disk = (b_int for r < 5 kpc, else b_i (5 kpc/r)) e^{−z²/2z_d²},
    b_halo = B_0 e^{−r/r_0} e^{−z²/2z_h²}; zero beyond r_max.  Parameters: :func:`jf12_random_params`."""
    z2 = z * z
    if r * r + z2 >= p[R_RMAX2]:
        return 0.0
    bd = 0.0
    sd = p[R_S_DISK]
    if sd != 0.0:
        if r < p[R_R_REF]:
            bd = p[R_B_INT]
        else:
            i = _arm_index(p, R_TAN_P, R_WIND, R_LNR, r, math.atan2(y, x))
            bd = p[R_B + i] * p[R_R_REF] / r
        bd *= sd * math.exp(-z2 * p[R_INV_2ZD2])
    bh = 0.0
    if p[R_S_HALO] != 0.0:
        bh = p[R_S_HALO] * p[R_B0] * math.exp(-r * p[R_INV_R0] - z2 * p[R_INV_2ZH2])
    return math.sqrt(bd * bd + bh * bh)


# ---------------------------------------------------------------------------------------------
# vectorised helpers (tests, maps, building grids)
# ---------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def jf12_field_many(p, pts):
    """``jf12_field`` at each row of pts (n, 3): array (n, 12)."""
    out = np.empty((pts.shape[0], 12))
    for n in range(pts.shape[0]):
        x, y, z = pts[n, 0], pts[n, 1], pts[n, 2]
        f = jf12_field(p, x, y, z, math.sqrt(x * x + y * y))
        for k in range(12):
            out[n, k] = f[k]
    return out


@njit(cache=True, error_model="numpy")
def jf12_solenoidal_field_many(p, pts):
    """``jf12_solenoidal_field`` at each row of pts (n, 3): array (n, 12)."""
    out = np.empty((pts.shape[0], 12))
    for n in range(pts.shape[0]):
        x, y, z = pts[n, 0], pts[n, 1], pts[n, 2]
        f = jf12_solenoidal_field(p, x, y, z, math.sqrt(x * x + y * y))
        for k in range(12):
            out[n, k] = f[k]
    return out


@njit(cache=True, error_model="numpy")
def jf12_random_amplitude_many(p, pts):
    """``jf12_random_amplitude`` at each row of pts (n, 3): array (n,)."""
    out = np.empty(pts.shape[0])
    for n in range(pts.shape[0]):
        x, y, z = pts[n, 0], pts[n, 1], pts[n, 2]
        out[n] = jf12_random_amplitude(p, x, y, z, math.sqrt(x * x + y * y))
    return out
