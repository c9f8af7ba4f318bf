"""Continuous energy-loss processes b = −dE/dt [GeV s⁻¹] for e± and protons/nuclei.

Pure physics building blocks: each process is an ``@njit(cache=True)`` function of plain
floats (no allocation, no Python objects).  Formulas and reference numbers: docs/physics.md §2
(ISRF, inverse Compton, Klein–Nishina) and §3 (losses; reference table §3.3).

Energy variables
----------------
* **Electrons/positrons**: ``E`` is the **total** energy [GeV], γ = E/(m_e c²), β² = 1 − 1/γ²
  (docs/physics.md §3.1).  The rates are dE/dt (= dT/dt); energy drift on E.
* **Protons/nuclei**: ``T`` is the **kinetic** energy per particle [GeV], M = A m_p, charge Z,
  γ = 1 + T/M (docs/physics.md §3.2).
* Densities in cm⁻³, magnetic fields in μG, radiation energy densities in eV cm⁻³.
  Multiply a rate by ``units.MYR_S`` to get GeV Myr⁻¹ (the engine's internal unit).

Gas arguments: ``n_H`` is the density of **neutral** hydrogen nuclei, n_HI + 2 n_H2; ``n_He`` the
neutral helium density (≈ 0.1 n_H, docs/physics.md §3); ``n_HII`` = ``n_e`` the ionised hydrogen /
free-electron density (Cordes et al. 1991 gas of :mod:`sdeprop.models.gas`).

Inverse Compton on a grey body (T [K], U [eV cm⁻³]) is b = b_T f_KN(x), x = 4γ k_B T/(m_e c²),
b_T = (4/3) σ_T c γ² β² U.  The suppression factor is selected by an integer tag:

* ``IC_THOMSON``: f = 1.
* ``IC_KN_MODERSKI``: Moderski, Sikora, Coppi & Aharonian 2005 (MNRAS 363, 954) mono-energetic
  isotropic-photon factor f = (1 + b)^(−3/2), b = 4γε₀/(m_e c²), with the grey-body shortcut
  ε₀ = 2.70 k_B T (docs/physics.md §2.3 item 3; the formula is [M], the shortcut is docs/physics.md's;
  5–30 % off in the transition).
* ``IC_KN_FANG``: Fang, Bi, Lin & Yuan 2021 (arXiv:2007.15601) parameterised Y(x), as
  implemented in Evoli's ``CosmicRayLeptonBreaks`` (docs/physics.md §2.3 item 1); agrees with the
  KAK14 integral to < 1.5 %; the option docs/physics.md §2.3 recommends.  Its branches join with jumps of
  0.9 % (x = 1.5×10⁻³) and 0.6 % (x = 150).
* ``IC_KN_KAK14``: the energy-loss integral b = m_e c² ∫ ε dN/(dt dε) dε of the Khangulyan,
  Aharonian & Kelner 2014 (ApJ 783, 100; arXiv:1310.7971) isotropic-Planck IC spectrum
  (their G functions with parameters a₃, a₄; docs/physics.md §2.3 item 2), done by a fixed
  97-point Simpson rule in ln of the KAK14 variable x (relative quadrature error < 10⁻⁷).
  Continuous in x; ~0.02 % above b_T in the Thomson limit, within 0.6 % of the exact
  Blumenthal & Gould (1970) asymptote for x ≥ 10³.  Slow (≈ 50 µs for the six ISRF components
  against ≈ 0.13 µs with ``IC_KN_FANG``): meant as a reference or for tabulation at start-up.
"""

from __future__ import annotations

import math

from numba import njit

from ..units import ELECTRON_MASS_GEV, PROTON_MASS_GEV
from .isrf import A_RAD_EV_CM3_K4, isrf_energy_density, isrf_temperature_K

# ---------------------------------------------------------------------------------------------
# Constants (docs/physics.md §0.1, unless stated)
C_CM_S = 2.99792458e10
"""Speed of light [cm s⁻¹]."""
SIGMA_T_CM2 = 6.6524587e-25
"""Thomson cross section [cm²]."""
R_E_CM = 2.8179403e-13
"""Classical electron radius [cm]."""
M_E_GEV = ELECTRON_MASS_GEV
"""Electron rest energy m_e c² [GeV]."""
M_P_GEV = PROTON_MASS_GEV
"""Proton rest energy m_p c² [GeV]."""
ALPHA_FS = 1.0 / 137.036
"""Fine-structure constant."""
HBARC_GEV_CM = 1.9732698e-14
"""ħc [GeV cm]."""
K_B_EV_K = 8.617333e-5
"""Boltzmann constant [eV K⁻¹]."""
ERG_PER_EV = 1.602176634e-12
"""1 eV in erg (exact, SI 2019)."""
GEV_PER_EV = 1e-9
U_B_EV_CM3_PER_UG2 = 1e-12 / (8.0 * math.pi) / ERG_PER_EV
"""Magnetic energy density B²/8π per μG² [eV cm⁻³] (= 0.024834, docs/physics.md §0.1)."""
M_H_G = 1.6735575e-24
"""Hydrogen-atom mass [g] (1.00794 u; IUPAC standard atomic weight)."""
M_HE_G = 6.6464731e-24
"""Helium-atom mass [g] (4.002602 u)."""
X_RAD_H_G_CM2 = 62.8
"""Radiation length of H [g cm⁻²] (Ginzburg 1979 via DRAGON ``constants.h``, docs/physics.md §3.1)."""
X_RAD_HE_G_CM2 = 93.1
"""Radiation length of He [g cm⁻²] (same source)."""
I_H_GEV = 13.6e-9
"""Ionisation potential of H used for e± ionisation losses [GeV] (docs/physics.md §3.1)."""
I_HE_GEV = 24.59e-9
"""Ionisation potential of He used for e± ionisation losses [GeV]."""
IBAR_H_GEV = 19e-9
"""Mean excitation energy of H for the Bethe formula [GeV] (docs/physics.md §3.2)."""
IBAR_HE_GEV = 44e-9
"""Mean excitation energy of He for the Bethe formula [GeV]."""
Z_HE = 2.0
T_TH_PP_GEV = 0.2797
"""π⁰ production threshold kinetic energy 2m_π + m_π²/(2m_p) [GeV] (Kafexhiu et al. 2014)."""
M_PI0_GEV = 0.1349766
MB_CM2 = 1e-27

# derived coefficients
THOMSON_COEFF = 4.0 / 3.0 * SIGMA_T_CM2 * C_CM_S * GEV_PER_EV
"""(4/3) σ_T c [GeV s⁻¹ per (eV cm⁻³)]; b_T = THOMSON_COEFF γ²β² U."""
TWO_PI_RE2_MC3 = 2.0 * math.pi * R_E_CM * R_E_CM * M_E_GEV * C_CM_S
"""2π r_e² m_e c³ [GeV cm³ s⁻¹] (= 7.643×10⁻¹⁸, docs/physics.md §3)."""
FOUR_ALPHA_RE2_C = 4.0 * ALPHA_FS * R_E_CM * R_E_CM * C_CM_S
"""4α r_e² c [cm³ s⁻¹] (= 6.949×10⁻¹⁷)."""
BREMS_SCREENED_H = C_CM_S * M_H_G / X_RAD_H_G_CM2
"""c m_H/X_H [cm³ s⁻¹] (= 7.99×10⁻¹⁶)."""
BREMS_SCREENED_HE = C_CM_S * M_HE_G / X_RAD_HE_G_CM2
"""c m_He/X_He [cm³ s⁻¹] (= 2.14×10⁻¹⁵)."""
BREMS_GAMMA_LOW = 100.0
BREMS_GAMMA_HIGH = 800.0
COULOMB_E_LOG0 = math.log(M_E_GEV * M_E_GEV / (4.0 * math.pi * R_E_CM * HBARC_GEV_CM * HBARC_GEV_CM)) - 0.75
"""ln[(m_e c²)²/(4π r_e (ħc)²) cm³] − 3/4 (= 73.57, docs/physics.md §3.1)."""

IC_THOMSON = 0
IC_KN_MODERSKI = 1
IC_KN_FANG = 2
IC_KN_KAK14 = 3

MODERSKI_EPS0_OVER_KT = 2.70

# Fang et al. 2021 Y(x) (docs/physics.md §2.3 item 1)
_FANG_C0 = -3.996e-2
_FANG_C1 = -9.100e-1
_FANG_C2 = -1.197e-1
_FANG_C3 = 3.305e-3
_FANG_C4 = 1.044e-3
_FANG_C5 = -7.013e-5
_FANG_C6 = -9.618e-6
_FANG_X_LO = 1.5e-3
_FANG_X_HI = 150.0
_PI4_15 = math.pi**4 / 15.0

# KAK14 (docs/physics.md §2.3 item 2): G(x; α, A, β, B, C) for the isotropic Planck field
_KAK_PREF_S = 2.63187e16  # 2 r_e² m_e³ c⁴/(π ħ³) [s⁻¹]
_A3_AL, _A3_A, _A3_BE, _A3_B, _A3_C = 0.606, 0.443, 1.481, 0.540, 0.319
_A4_AL, _A4_A, _A4_BE, _A4_B, _A4_C = 0.461, 0.726, 1.457, 0.382, 6.620
_PI2_6 = math.pi**2 / 6.0
_KAK_LNX_MIN = -14.0
_KAK_LNX_MAX = 5.0
_KAK_N = 96  # Simpson intervals (even)
# b_T for an undiluted black body with k_B T = t m_e c² is (4/3) σ_T c γ² a (m_e c²/k_B)⁴ t⁴;
# with γ = x/(4t) the KAK14 ratio is f = 16 m_e c² P I(x) / ((4/3) σ_T c a (m_e c²/k_B)⁴ x²).
_KAK_NORM = (
    16.0
    * M_E_GEV
    * _KAK_PREF_S
    / (THOMSON_COEFF * A_RAD_EV_CM3_K4 * (M_E_GEV / (K_B_EV_K * GEV_PER_EV)) ** 4)
)


# ---------------------------------------------------------------------------------------------
# Electrons and positrons (E = total energy [GeV])


@njit(cache=True, error_model="numpy")
def _electron_gamma_beta2(E):
    g = E / M_E_GEV
    if g < 1.0:
        g = 1.0
    return g, 1.0 - 1.0 / (g * g)


@njit(cache=True, error_model="numpy")
def synchrotron_loss(E, B2_uG2):
    """Synchrotron loss of an e± with isotropic pitch angles [GeV s⁻¹].

    b = (4/3) σ_T c γ² β² B²/8π (docs/physics.md §3.1; Blumenthal & Gould 1970) with
    B² = B_reg² + δB_rms² [μG²] the total field energy density supplied by the caller;
    = 2.529×10⁻¹⁸ (B/μG)² (E/GeV)² for β → 1.
    """
    g, b2 = _electron_gamma_beta2(E)
    return THOMSON_COEFF * g * g * b2 * U_B_EV_CM3_PER_UG2 * B2_uG2


@njit(cache=True, error_model="numpy")
def ic_loss_thomson(E, U_eV_cm3):
    """Thomson-limit inverse-Compton loss b_T = (4/3) σ_T c γ² β² U [GeV s⁻¹] (docs/physics.md §2.2)."""
    g, b2 = _electron_gamma_beta2(E)
    return THOMSON_COEFF * g * g * b2 * U_eV_cm3


@njit(cache=True, error_model="numpy")
def kn_x(E, T_K):
    """KN parameter x = 4γ k_B T/(m_e c²) for an e± of total energy E [GeV] on a T [K] grey body."""
    return 4.0 * (E / M_E_GEV) * K_B_EV_K * T_K * GEV_PER_EV / M_E_GEV


@njit(cache=True, error_model="numpy")
def kn_factor_moderski(x):
    """f_KN = (1 + b)^(−3/2), b = 4γε₀/(m_e c²), with ε₀ = 2.70 k_B T.

    Moderski et al. 2005 (MNRAS 363, 954) mono-energetic approximation with docs/physics.md §2.3
    item 3's grey-body shortcut; in terms of x = 4γ k_B T/(m_e c²), b = 2.70 x.
    """
    b = MODERSKI_EPS0_OVER_KT * x
    return 1.0 / ((1.0 + b) * math.sqrt(1.0 + b))


@njit(cache=True, error_model="numpy")
def fang_Y(x):
    """Y(x) of Fang et al. 2021 (arXiv:2007.15601), docs/physics.md §2.3 item 1 (b = 20 c σ_T U γ² Y/π⁴)."""
    if x < _FANG_X_LO:
        return _PI4_15
    if x < _FANG_X_HI:
        L = math.log(x)
        s = _FANG_C6
        s = s * L + _FANG_C5
        s = s * L + _FANG_C4
        s = s * L + _FANG_C3
        s = s * L + _FANG_C2
        s = s * L + _FANG_C1
        s = s * L + _FANG_C0
        return math.exp(s)
    return 0.75 * (math.pi / x) ** 2 * (math.log(x) - 1.9805)


@njit(cache=True, error_model="numpy")
def kn_factor_fang(x):
    """f_KN = b/b_T = (15/π⁴) Y(x) of Fang et al. 2021 (docs/physics.md §2.3 item 1)."""
    return fang_Y(x) / _PI4_15


@njit(cache=True, error_model="numpy", inline="always")
def _kak14_G(x, al, A, be, B, C):
    """KAK14 G(x; α, A, β, B, C) = (π²/6)(1 + Cx)/(1 + (π²/6)Cx) e^{−x}/[A x^α/(1 + B x^β) + 1]."""
    return (
        _PI2_6 * (1.0 + C * x) / (1.0 + _PI2_6 * C * x) * math.exp(-x) / (A * x**al / (1.0 + B * x**be) + 1.0)
    )


@njit(cache=True, error_model="numpy")
def kn_factor_kak14(x):
    """f_KN = b/b_T from the Khangulyan, Aharonian & Kelner 2014 isotropic-Planck IC spectrum.

    b = m_e c² ∫₀^γ ε dN/(dt dε) dε with dN/(dt dε) of KAK14 (docs/physics.md §2.3 item 2), z = ε/γ,
    written in u = z/((1 − z) x) (the KAK14 G-function variable): z = ux/(1 + ux).  Simpson rule,
    96 intervals in ln u ∈ [−14, 5] (the integrand falls as u² below and e^{−u} above).
    """
    if x <= 0.0:
        return 1.0
    h = (_KAK_LNX_MAX - _KAK_LNX_MIN) / _KAK_N
    s = 0.0
    for j in range(_KAK_N + 1):
        u = math.exp(_KAK_LNX_MIN + j * h)
        ux = u * x
        z = ux / (1.0 + ux)
        dz_dlnu = ux / ((1.0 + ux) * (1.0 + ux))
        one_m_z = 1.0 / (1.0 + ux)
        f = (
            z
            * (
                z * z / (2.0 * one_m_z) * _kak14_G(u, _A3_AL, _A3_A, _A3_BE, _A3_B, _A3_C)
                + _kak14_G(u, _A4_AL, _A4_A, _A4_BE, _A4_B, _A4_C)
            )
            * dz_dlnu
        )
        if j == 0 or j == _KAK_N:
            w = 1.0
        elif j % 2 == 1:
            w = 4.0
        else:
            w = 2.0
        s += w * f
    return _KAK_NORM * s * h / 3.0 / (x * x)


@njit(cache=True, error_model="numpy")
def kn_factor(kind, x):
    """KN suppression factor f_KN(x) for the tag ``kind`` (IC_THOMSON → 1)."""
    if kind == IC_KN_FANG:
        return kn_factor_fang(x)
    if kind == IC_KN_MODERSKI:
        return kn_factor_moderski(x)
    if kind == IC_KN_KAK14:
        return kn_factor_kak14(x)
    return 1.0


@njit(cache=True, error_model="numpy")
def ic_loss_greybody(E, T_K, U_eV_cm3, kind):
    """Inverse-Compton loss on one grey body (T [K], U [eV cm⁻³]) [GeV s⁻¹]: b_T f_KN(x)."""
    return ic_loss_thomson(E, U_eV_cm3) * kn_factor(kind, kn_x(E, T_K))


@njit(cache=True, error_model="numpy")
def ic_loss_isrf(E, p_isrf, x, y, z, kind):
    """Inverse-Compton loss on all ISRF components at (x, y, z) [kpc] [GeV s⁻¹].

    ``p_isrf`` from :func:`sdeprop.models.isrf.build_isrf`; Σ_i b_T,i f_KN(x_i) (docs/physics.md §3.1).
    """
    n = int(p_isrf[0])
    bt = ic_loss_thomson(E, 1.0)
    total = 0.0
    for i in range(n):
        u = isrf_energy_density(p_isrf, i, x, y, z)
        if u > 0.0:
            total += bt * u * kn_factor(kind, kn_x(E, isrf_temperature_K(p_isrf, i)))
    return total


@njit(cache=True, error_model="numpy")
def _brems_unscreened(g, n_H, n_He):
    """4α r_e² c E [2 n_H + Z_He(Z_He+1) n_He][ln 2γ − 1/3] at Lorentz factor g."""
    return (
        FOUR_ALPHA_RE2_C
        * g
        * M_E_GEV
        * (2.0 * n_H + Z_HE * (Z_HE + 1.0) * n_He)
        * (math.log(2.0 * g) - 1.0 / 3.0)
    )


@njit(cache=True, error_model="numpy")
def _brems_screened(g, n_H, n_He):
    """c E (n_H m_H/X_H + n_He m_He/X_He) at Lorentz factor g."""
    return g * M_E_GEV * (BREMS_SCREENED_H * n_H + BREMS_SCREENED_HE * n_He)


@njit(cache=True, error_model="numpy")
def bremsstrahlung_neutral_loss(E, n_H, n_He):
    """Bremsstrahlung loss of an e± on neutral H + He [GeV s⁻¹] (Ginzburg 1979 via DRAGON).

    Unscreened for γ < 100, complete screening for γ > 800, and (as DRAGON ``eloss.cc``)
    linear interpolation in γ of b between the two end-point values in between
    (docs/physics.md §3.1; ≤ 10 % error).  n_H = n_HI + 2 n_H2, n_He [cm⁻³].
    """
    g, _ = _electron_gamma_beta2(E)
    if g < BREMS_GAMMA_LOW:
        return _brems_unscreened(g, n_H, n_He)
    if g > BREMS_GAMMA_HIGH:
        return _brems_screened(g, n_H, n_He)
    w = (g - BREMS_GAMMA_LOW) / (BREMS_GAMMA_HIGH - BREMS_GAMMA_LOW)
    return (1.0 - w) * _brems_unscreened(BREMS_GAMMA_LOW, n_H, n_He) + w * _brems_screened(
        BREMS_GAMMA_HIGH, n_H, n_He
    )


@njit(cache=True, error_model="numpy")
def bremsstrahlung_ionized_loss(E, n_HII):
    """Bremsstrahlung loss on ionised hydrogen (e–p + e–e) 8α r_e² c E n_HII [ln 2γ − 1/3] [GeV s⁻¹].

    Ginzburg 1979 via DRAGON (docs/physics.md §3.1).
    """
    g, _ = _electron_gamma_beta2(E)
    return 2.0 * FOUR_ALPHA_RE2_C * E * n_HII * (math.log(2.0 * g) - 1.0 / 3.0)


@njit(cache=True, error_model="numpy")
def ionization_loss_electron(E, n_H, n_He):
    """Ionisation loss of an e± in neutral H + He [GeV s⁻¹] (Ginzburg 1979 via DRAGON).

    (2π r_e² m_e c³/β) Σ_s Z_s n_s {ln[(γ−1)(γ²−1)(m_e c²)²/(2 I_s²)] + 1/8}, I_H = 13.6 eV,
    I_He = 24.59 eV, Z_He = 2 (docs/physics.md §3.1).  Relativistic formula, clamped at 0 where the
    logarithm turns negative (kinetic energy ≲ 10 eV).
    """
    g, b2 = _electron_gamma_beta2(E)
    if b2 <= 0.0:
        return 0.0
    a = (g - 1.0) * (g * g - 1.0) * M_E_GEV * M_E_GEV * 0.5
    s = n_H * (math.log(a / (I_H_GEV * I_H_GEV)) + 0.125) + Z_HE * n_He * (
        math.log(a / (I_HE_GEV * I_HE_GEV)) + 0.125
    )
    b = TWO_PI_RE2_MC3 / math.sqrt(b2) * s
    return b if b > 0.0 else 0.0


@njit(cache=True, error_model="numpy")
def coulomb_loss_electron(E, n_e):
    """Coulomb loss of an e± in a cold ionised plasma of electron density n_e [cm⁻³] [GeV s⁻¹].

    (2π r_e² m_e c³ n_e/β){ln[γ (m_e c²)²/(4π r_e (ħc)² n_e)] − 3/4} (Ginzburg 1979 via DRAGON;
    docs/physics.md §3.1), i.e. bracket = ln γ − ln(n_e/cm⁻³) + 73.57.
    """
    if n_e <= 0.0:
        return 0.0
    g, b2 = _electron_gamma_beta2(E)
    if b2 <= 0.0:
        return 0.0
    lg = math.log(g) - math.log(n_e) + COULOMB_E_LOG0
    b = TWO_PI_RE2_MC3 * n_e / math.sqrt(b2) * lg
    return b if b > 0.0 else 0.0


@njit(cache=True, error_model="numpy")
def electron_loss_rate(E, B2_uG2, p_isrf, x, y, z, n_H, n_He, n_HII, ic_kind):
    """Total e± loss b [GeV s⁻¹]: synchrotron + IC (ISRF) + bremsstrahlung + ionisation + Coulomb.

    E total energy [GeV]; B² [μG²] total; position [kpc] for the ISRF; n_H = n_HI + 2n_H2, n_He,
    n_HII = n_e [cm⁻³]; ``ic_kind`` one of the IC_* tags.
    """
    return (
        synchrotron_loss(E, B2_uG2)
        + ic_loss_isrf(E, p_isrf, x, y, z, ic_kind)
        + bremsstrahlung_neutral_loss(E, n_H, n_He)
        + bremsstrahlung_ionized_loss(E, n_HII)
        + ionization_loss_electron(E, n_H, n_He)
        + coulomb_loss_electron(E, n_HII)
    )


# ---------------------------------------------------------------------------------------------
# Protons and nuclei (T = kinetic energy [GeV], M = A m_p, charge Z)


@njit(cache=True, error_model="numpy", inline="always")
def _nucleus_kinematics(T, A):
    """(M = A m_p, γ = 1 + T/M, γ² − 1, β²) of a nucleus of kinetic energy T [GeV] (docs/physics.md §3.2)."""
    M = A * M_P_GEV
    g = 1.0 + T / M
    g2m1 = g * g - 1.0
    return M, g, g2m1, (g2m1 / (g * g) if g2m1 > 0.0 else 0.0)


@njit(cache=True, error_model="numpy")
def ionization_loss_nucleus(T, n_H, n_He, Z, A):
    """Bethe ionisation loss in neutral H + He [GeV s⁻¹], GALPROP/DRAGON form (docs/physics.md §3.2).

    (2π r_e² m_e c³ Z²/β) [n_H B_H + n_He B_He], B_s = ln[2 m_e c² (γ²−1) Q_max/Ī_s²] − 2β²,
    Q_max = 2 m_e c²(γ²−1)/(1 + 2γ m_e/M), Ī_H = 19 eV, Ī_He = 44 eV.  As in DRAGON
    ``eloss.cc`` (and the docs/physics.md §3.3 table) the He term carries n_He, not Z_He n_He.
    Clamped at 0 where the Bethe logarithm turns negative (T ≲ 10 keV per nucleon).
    """
    M, g, g2m1, b2 = _nucleus_kinematics(T, A)
    if g2m1 <= 0.0:
        return 0.0
    qmax = 2.0 * M_E_GEV * g2m1 / (1.0 + 2.0 * g * M_E_GEV / M)
    a = 2.0 * M_E_GEV * g2m1 * qmax
    BH = math.log(a / (IBAR_H_GEV * IBAR_H_GEV)) - 2.0 * b2
    BHe = math.log(a / (IBAR_HE_GEV * IBAR_HE_GEV)) - 2.0 * b2
    b = TWO_PI_RE2_MC3 * Z * Z / math.sqrt(b2) * (n_H * BH + n_He * BHe)
    return b if b > 0.0 else 0.0


@njit(cache=True, error_model="numpy")
def coulomb_loss_nucleus(T, n_e, Z, A, T_e_K):
    """Coulomb loss in ionised gas [GeV s⁻¹], GALPROP/DRAGON form (docs/physics.md §3.2).

    (4π r_e² m_e c³ Z² n_e/β) lnΛ β³/(β³ + x_m), lnΛ = ½ ln[γ²β⁴(m_e c²)² M/(π r_e (ħc)² n_e
    (M + 2γ m_e))], x_m = (3√π/4) β_e³, β_e = √(2 k_B T_e/(m_e c²)).  Clamped at lnΛ ≥ 0.
    """
    if n_e <= 0.0:
        return 0.0
    M, g, g2m1, b2 = _nucleus_kinematics(T, A)
    if g2m1 <= 0.0:
        return 0.0
    beta = math.sqrt(b2)
    beta3 = b2 * beta
    be2 = 2.0 * K_B_EV_K * T_e_K * GEV_PER_EV / M_E_GEV
    xm = 0.75 * math.sqrt(math.pi) * be2 * math.sqrt(be2)
    lnL = 0.5 * math.log(
        g
        * g
        * b2
        * b2
        * M_E_GEV
        * M_E_GEV
        * M
        / (math.pi * R_E_CM * HBARC_GEV_CM * HBARC_GEV_CM * n_e * (M + 2.0 * g * M_E_GEV))
    )
    if lnL <= 0.0:
        return 0.0
    return 2.0 * TWO_PI_RE2_MC3 * Z * Z * n_e / beta * lnL * beta3 / (beta3 + xm)


@njit(cache=True, error_model="numpy")
def sigma_inel_pp_mb(T, threshold_GeV=T_TH_PP_GEV):
    """Inelastic pp cross section [mb] at proton kinetic energy T [GeV] (Kafexhiu et al. 2014 eq. 1).

    [30.7 − 0.96 L + 0.18 L²][1 − (T_th/T)^1.9]³, L = ln(T/T_th), T_th = 0.2797 GeV
    (docs/physics.md §6.1; ``threshold_GeV`` for the unrounded 2m_π + m_π²/2m_p); 0 below threshold.
    """
    if T <= threshold_GeV:
        return 0.0
    L = math.log(T / threshold_GeV)
    r = 1.0 - (threshold_GeV / T) ** 1.9
    return (30.7 - 0.96 * L + 0.18 * L * L) * r * r * r


@njit(cache=True, error_model="numpy")
def pion_loss_proton(T, n_H, inelasticity):
    """Continuous pion-production loss b_pp = κ σ_inel(T) c n_H T [GeV s⁻¹] (docs/physics.md §3.2).

    κ = ``inelasticity`` (0.5 in docs/physics.md §3.2, 0.45 also used); σ_inel of Kafexhiu et al. 2014;
    n_H the target hydrogen density [cm⁻³].  As written in docs/physics.md §3.2 (and its t_pp table) the
    collision rate uses c, not βc (11 % difference at T = 1 GeV, < 0.5 % above 10 GeV).
    """
    return inelasticity * sigma_inel_pp_mb(T) * MB_CM2 * C_CM_S * n_H * T


@njit(cache=True, error_model="numpy")
def proton_loss_rate(T, n_H, n_He, n_e, T_e_K, inelasticity):
    """Total proton loss b [GeV s⁻¹]: ionisation (neutral H+He) + Coulomb (n_e) + pion production.

    T kinetic energy [GeV]; n_H neutral hydrogen nuclei; the pp term uses n_H + n_e (all hydrogen).
    """
    return (
        ionization_loss_nucleus(T, n_H, n_He, 1.0, 1.0)
        + coulomb_loss_nucleus(T, n_e, 1.0, 1.0, T_e_K)
        + pion_loss_proton(T, n_H + n_e, inelasticity)
    )
