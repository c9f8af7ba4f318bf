"""Secondary e± production spectra of pp collisions over the whole energy range (KAB06 + δ-approximation).

KAB06 = Kelner, Aharonian & Bugayov 2006 (PRD 74, 034018).  Their fitted e± function F_e (eqs. 66–69,
:func:`sdeprop.emission.kelner06.electron_spectrum_function`) holds for proton energies E_p ≥ 100 GeV.
Below, KAB06 §IV C propose a δ-functional approximation: a proton of kinetic energy T_p = E_p − m_p
hands the fixed fraction K_π = 0.17 of it to each pion, so that the pion production rate is (eq. 78)

    q_π(E_π) = ñ (c n_H / K_π) σ_inel(m_p + E_π/K_π) J_p(m_p + E_π/K_π),

and every charged pion decays, π → μ ν_μ, μ → e ν ν, into one e± whose energy fraction x = E_e/E_π
follows, for E_π ≫ m_π, the normalised function f_e(x) ≈ f_νμ(2)(x) of KAB06 eqs. 36–39 (the ν_μ
of muon decay; KAB06 §III state that the electron spectrum coincides with it for massless
electrons).  The lepton emissivity is then

    q_e(E_e) = ∫ q_π(E_π) f_e(E_e/E_π) dE_π / E_π.

ñ is free in KAB06 (they fit it to their E_p ≥ 100 GeV results for each proton spectral index); here
it is fixed by continuity: q_e from the δ-approximation equals q_e from F_e at the joint energy
E_e = 100 GeV for J_p ∝ E_p^(−α_match) (default α_match = 2.7), see :func:`delta_multiplicity`.

The two regimes are joined in the **lepton** energy, as KAB06 recommend (δ-approximation below
100 GeV, where F_e would need protons below its range; F_e above): the emissivity is
(1 − w) q_δ + w q_KAB with w a smooth step in ln E_e from 0 at 100 GeV to 1 at 300 GeV
(:data:`JOINT_LOWER_GEV`, :data:`JOINT_UPPER_GEV`).  Both terms are linear in J_p, so the result
is one kernel K(E_e, T_p) that emission matrices can integrate.  docs/emission.md, "Secondary e±
from the proton sea", gives the accuracy of the joint.

KAB06 do not separate charges: everything here is e⁺ + e⁻.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import integrate

from sdeprop.emission import kelner06
from sdeprop.units import MILLIBARN_CM2, PROTON_MASS_GEV, SPEED_OF_LIGHT_CM_PER_S

PION_ENERGY_FRACTION = 0.17
"""K_π, the fraction of the proton kinetic energy given to one pion in the δ-approximation (KAB06 §IV C)."""

MUON_PION_MASS_RATIO_SQUARED = 0.573
"""r = m_μ²/m_π² = 1 − λ (KAB06 eq. 36; λ = 0.427 is the ν_μ(1) kinematic limit)."""

CHARGED_PION_MASS_GEV = 0.13957
"""m_π± [GeV] (PDG)."""

JOINT_LOWER_GEV = kelner06.KAB06_MIN_ENERGY_GEV
"""Lepton energy [GeV] below which only the δ-approximation is used (the KAB06 fits need E_p ≥ 100 GeV)."""

JOINT_UPPER_GEV = 300.0
"""Lepton energy [GeV] above which only KAB06's F_e is used."""

MIN_LEPTON_ENERGY_GEV = 0.5
"""Lowest lepton energy accepted [GeV]: below, the ultra-relativistic decay (E_π ≫ m_π) and the
δ-approximation near the pion threshold are no longer adequate."""

DEFAULT_MATCHING_INDEX = 2.7
"""α_match: the proton spectral index for which ñ makes the two regimes agree at 100 GeV."""


def muon_decay_lepton_fraction(x):
    """f_e(x) ≈ f_νμ(2)(x), e± per unit x = E_e/E_π from π → μ → e for E_π ≫ m_π; KAB06 eqs. 36–39.

    f = g(x) for r ≤ x ≤ 1 and h₁ + h₂(x) for x < r (r = m_μ²/m_π²), with
    g = (3 − 2r)(9x² − 6 ln x − 4x³ − 5) / [9 (1 − r)²], h₁ = g(r),
    h₂ = (1 + 2r)(r − x)[9(r + x) − 4(r² + r x + x²)] / (9 r²).  Normalised: ∫₀¹ f dx = 1.
    """
    r = MUON_PION_MASS_RATIO_SQUARED
    x = np.asarray(x, dtype=float)
    inside = (x > 0.0) & (x <= 1.0)
    xs = np.where(inside, x, 0.5)
    coefficient = (3.0 - 2.0 * r) / (9.0 * (1.0 - r) ** 2)
    g = coefficient * (9.0 * xs**2 - 6.0 * np.log(xs) - 4.0 * xs**3 - 5.0)
    h1 = coefficient * (9.0 * r**2 - 6.0 * np.log(r) - 4.0 * r**3 - 5.0)
    h2 = (1.0 + 2.0 * r) * (r - xs) * (9.0 * (r + xs) - 4.0 * (r**2 + r * xs + xs**2)) / (9.0 * r**2)
    return np.where(inside, np.where(xs >= r, g, h1 + h2), 0.0)


def _proton_speed_fraction(total_GeV):
    """β = v/c of a proton of total energy E_p [GeV]."""
    return np.sqrt(np.clip(1.0 - (PROTON_MASS_GEV / total_GeV) ** 2, 0.0, None))


def kab06_kernel(lepton_GeV, proton_kinetic_GeV):
    """e± per s per GeV of one proton (kinetic T_p [GeV]) on n_H = 1 cm⁻³: β c σ_inel F_e(E_e/E_p)/E_p.

    KAB06 eqs. 66–69 (F_e), 71 (emissivity), 79 (σ_inel); shape (len(E_e), len(T_p)).  Zero where
    E_p < 100 GeV (outside the fits).
    """
    energy = np.asarray(lepton_GeV, dtype=float)[:, None]
    total = np.asarray(proton_kinetic_GeV, dtype=float)[None, :] + PROTON_MASS_GEV
    valid = total >= kelner06.KAB06_MIN_ENERGY_GEV
    safe_total = np.where(valid, total, kelner06.KAB06_MIN_ENERGY_GEV)
    function = kelner06.electron_spectrum_function(energy / safe_total, safe_total)
    sigma_cm2 = kelner06.inelastic_cross_section_mb(safe_total) * MILLIBARN_CM2
    rate = _proton_speed_fraction(safe_total) * SPEED_OF_LIGHT_CM_PER_S * sigma_cm2 * function / safe_total
    return np.where(valid, rate, 0.0)


def delta_kernel(lepton_GeV, proton_kinetic_GeV, multiplicity):
    """e± per s per GeV of one proton (kinetic T_p [GeV]) on n_H = 1 cm⁻³ in KAB06's δ-approximation.

    ñ β c σ_inel(E_p) f_e(E_e/E_π)/E_π with E_π = K_π T_p (KAB06 eqs. 78, 79; f_e of eqs. 36–39);
    ñ = ``multiplicity`` charged pions per collision.  Zero where E_π < m_π.
    """
    energy = np.asarray(lepton_GeV, dtype=float)[:, None]
    kinetic = np.asarray(proton_kinetic_GeV, dtype=float)[None, :]
    total = kinetic + PROTON_MASS_GEV
    pion = PION_ENERGY_FRACTION * kinetic
    valid = pion > CHARGED_PION_MASS_GEV
    safe_pion = np.where(valid, pion, 1.0)
    sigma_cm2 = kelner06.inelastic_cross_section_mb(total) * MILLIBARN_CM2
    rate = (
        multiplicity
        * _proton_speed_fraction(total)
        * SPEED_OF_LIGHT_CM_PER_S
        * sigma_cm2
        * muon_decay_lepton_fraction(energy / safe_pion)
        / safe_pion
    )
    return np.where(valid, rate, 0.0)


def _power_law_emissivity(kernel, lepton_GeV: float, index: float) -> float:
    """∫ K(E_e, T) T^(−index) dT, quadrature in ln T from E_e to 10⁶ E_e (test and matching helper)."""

    def integrand(log_t):
        t = np.exp(log_t)
        return float(kernel(np.array([lepton_GeV]), np.array([t]))[0, 0]) * t ** (1.0 - index)

    lower = np.log(max(lepton_GeV - PROTON_MASS_GEV, 1e-3))
    upper = np.log(lepton_GeV * 1e6)
    breaks = [np.log(lepton_GeV / PION_ENERGY_FRACTION), np.log(lepton_GeV / (0.573 * PION_ENERGY_FRACTION))]
    breaks = [b for b in breaks if lower < b < upper]
    value, _ = integrate.quad(integrand, lower, upper, points=breaks or None, limit=400, epsrel=1e-9)
    return value


@functools.lru_cache(maxsize=16)
def delta_multiplicity(matching_index: float = DEFAULT_MATCHING_INDEX) -> float:
    """ñ (charged pions per collision) making the δ-approximation equal KAB06's F_e at E_e = 100 GeV.

    Matched for J_p ∝ T_p^(−``matching_index``) with the full kernels (σ_inel of KAB06 eq. 79, β);
    KAB06 §IV C leave ñ free and fit it per spectral index (the module docstring).
    """
    index = float(matching_index)
    if not np.isfinite(index) or not 1.5 <= index <= 4.0:
        raise ValueError(f"matching_index must be within [1.5, 4]; got {matching_index!r}")
    energy = JOINT_LOWER_GEV
    high = _power_law_emissivity(kab06_kernel, energy, index)
    low = _power_law_emissivity(lambda e, t: delta_kernel(e, t, 1.0), energy, index)
    return high / low


def joint_weight(lepton_GeV):
    """w(E_e): 0 below 100 GeV, 1 above 300 GeV, the smooth step 3s² − 2s³ in s = ln(E/100 GeV)/ln 3."""
    energy = np.asarray(lepton_GeV, dtype=float)
    s = np.clip(np.log(energy / JOINT_LOWER_GEV) / np.log(JOINT_UPPER_GEV / JOINT_LOWER_GEV), 0.0, 1.0)
    return s * s * (3.0 - 2.0 * s)


def pair_kernel(lepton_GeV, proton_kinetic_GeV, matching_index: float = DEFAULT_MATCHING_INDEX):
    """Joined e⁺ + e⁻ kernel [s⁻¹ GeV⁻¹] per proton of kinetic T_p on n_H = 1 cm⁻³, all E_e ≥ 0.5 GeV.

    (1 − w) K_δ + w K_KAB06 (:func:`delta_kernel`, :func:`kab06_kernel`, :func:`joint_weight`);
    no nuclear enhancement (pure pp, as KAB06).
    """
    energy = np.atleast_1d(np.asarray(lepton_GeV, dtype=float))
    w = joint_weight(energy)[:, None]
    low = delta_kernel(energy, proton_kinetic_GeV, delta_multiplicity(matching_index))
    high = kab06_kernel(energy, proton_kinetic_GeV)
    return (1.0 - w) * low + w * high


def ms98_secondary_flux(energy_GeV, species: str) -> np.ndarray:
    """Interstellar flux of secondary positrons or electrons [GeV⁻¹ cm⁻² s⁻¹ sr⁻¹] of the Moskalenko &
    Strong 1998 (ApJ 493, 694) propagation model without reacceleration, in the fits of Baltz & Edsjö 1999
    (PRD 59, 023511, eqs. 26–27; E in GeV):

        e⁺: 4.5 E^0.7 / (1 + 650 E^2.3 + 1500 E^4.2)
        e⁻: 0.7 E^0.7 / (1 + 110 E^1.5 + 600 E^2.9 + 580 E^4.2)

    A published reference model of the local secondary spectra (docs/emission.md)."""
    e = np.asarray(energy_GeV, dtype=float)
    if species == "positron":
        return 4.5 * e**0.7 / (1.0 + 650.0 * e**2.3 + 1500.0 * e**4.2)
    if species == "electron":
        return 0.7 * e**0.7 / (1.0 + 110.0 * e**1.5 + 600.0 * e**2.9 + 580.0 * e**4.2)
    raise ValueError(f"species must be 'positron' or 'electron'; got {species!r}")


def positron_share(energy_GeV) -> np.ndarray:
    """e⁺/(e⁺ + e⁻) of the secondary pairs made by pp collisions, at lepton energy E [GeV]: the ratio of the
    Moskalenko & Strong 1998 secondary fluxes (:func:`ms98_secondary_flux`; 0.79 at 1 GeV, 0.72 at 10 GeV,
    0.71 above).  Positrons outnumber electrons because the cosmic-ray protons carry positive charge into
    the collisions (π⁺ over π⁻).  e⁺ and e⁻ of one energy propagate alike, so the ratio of the propagated
    fluxes is the ratio of the production rates wherever that varies slowly with energy, as it does here;
    KAB06 count e⁺ and e⁻ together, and this share splits them."""
    plus = ms98_secondary_flux(energy_GeV, "positron")
    return plus / (plus + ms98_secondary_flux(energy_GeV, "electron"))
