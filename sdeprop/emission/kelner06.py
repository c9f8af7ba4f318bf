"""Secondary γ, neutrinos and e± from pp collisions: Kelner, Aharonian & Bugayov 2006 (KAB06).

KAB06 = S. R. Kelner, F. A. Aharonian, V. V. Bugayov, Phys. Rev. D 74, 034018 (2006),
arXiv:astro-ph/0606058.  Their spectra of secondaries per proton collision, as functions of
x = E/E_p and L = ln(E_p / 1 TeV), fitted to SIBYLL for 0.1 TeV ≤ E_p ≤ 10⁵ TeV:

* γ rays, eqs. 58–61:  F_γ(x, E_p);
* ν_μ from the direct decay π → μ ν_μ, eqs. 62–65:  F_νμ(1)(x, E_p), nonzero for x < 0.427
  (y = x/0.427; 0.427 = 1 − m_μ²/m_π² is the kinematic limit);
* electrons and ν_μ from muon decay, eqs. 66–69:  F_e ≈ F_νμ(2), and F_νe ≈ F_e (KAB06 state
  the ν_e spectrum agrees with F_e to within 5 %).

As in KAB06 the functions count particles and antiparticles together (π⁺ and π⁻ are not
separated): F_e is the spectrum of e⁻ + e⁺, F_νμ of ν_μ + ν̄_μ.

Inelastic cross section, eq. 79: σ_inel = (34.3 + 1.88 L + 0.25 L²)(1 − (E_th/E_p)⁴)² mb with
E_th = 1.22 GeV.  Emissivity per unit target, eq. 71:

    q(E) = c n_H ∫_E^∞ σ_inel(E_p) J_p(E_p) F(E/E_p, E_p) dE_p / E_p,

with E_p the proton total energy (dE_p = dT, so a density per unit kinetic energy enters as is).

**Validity.**  The fits hold for E_p ≥ 100 GeV.  Producing a secondary of energy E needs
E_p ≥ E (E_p ≥ E/0.427 for ν_μ(1)), so every output energy E ≥ 100 GeV involves only protons of
validity; the matrix builders refuse output energies below ``KAB06_MIN_ENERGY_GEV``.  Below that
use naima's Kafexhiu et al. 2014 model for γ (``pion_decay_matrix``); KAB06's δ-functional
approximation (their §IV C) is implemented for e± in :mod:`sdeprop.emission.secondary_pairs`.
This module applies no nuclear enhancement (pure pp on hydrogen).

Coefficients checked (not copied) against public implementations: the γ function and σ_inel of
naima ``PionDecayKelner06`` (naima/radiative.py), the ν functions of hermes
(cosmicrays/hermes, src/interactions/KelnerAharonianNeutrino.cpp) and of XS4GCR
(models/gammaKelner06.cpp: F_γ, F_νμ(1), F_e with the same constants; that code labels the
F_e and F_νμ(1) equations 62 and 66 the other way round from the paper's numbering used here).
"""

from __future__ import annotations

import numpy as np

from sdeprop.units import MILLIBARN_CM2, SPEED_OF_LIGHT_CM_PER_S

KAB06_MIN_ENERGY_GEV = 100.0
"""Lowest proton energy of the KAB06 fits (and lowest secondary energy the builders accept) [GeV]."""

THRESHOLD_ENERGY_GEV = 1.22
"""E_th of KAB06 eq. 79 [GeV]."""

PION_DECAY_MUON_NEUTRINO_MAX_X = 0.427
"""Kinematic limit x = E_ν/E_p of ν_μ from π → μ ν_μ, 1 − m_μ²/m_π² (KAB06 eq. 62)."""


def _log_energy_TeV(proton_energy_GeV):
    return np.log(np.asarray(proton_energy_GeV, dtype=float) / 1000.0)


def inelastic_cross_section_mb(proton_energy_GeV):
    """σ_inel(E_p) [mb], KAB06 eq. 79; E_p the total proton energy [GeV], zero below E_th."""
    energy = np.asarray(proton_energy_GeV, dtype=float)
    L = _log_energy_TeV(np.maximum(energy, THRESHOLD_ENERGY_GEV))
    threshold = np.clip(1.0 - (THRESHOLD_ENERGY_GEV / np.maximum(energy, 1e-300)) ** 4, 0.0, None) ** 2
    return (34.3 + 1.88 * L + 0.25 * L**2) * threshold


def _shape_58(x, B, beta, k):
    """The common form of KAB06 eqs. 58 and 62: B ln x / x [(1−x^β)/(1+k x^β(1−x^β))]⁴ [1/ln x − …]."""
    xb = x**beta
    denominator = 1.0 + k * xb * (1.0 - xb)
    bracket = (
        1.0 / np.log(x) - 4.0 * beta * xb / (1.0 - xb) - 4.0 * k * beta * xb * (1.0 - 2.0 * xb) / denominator
    )
    return B * np.log(x) / x * ((1.0 - xb) / denominator) ** 4 * bracket


def _inside_unit_interval(x, limit=1.0):
    x = np.asarray(x, dtype=float)
    inside = (x > 0.0) & (x < limit)
    return np.where(inside, x, 0.5 * limit), inside


def gamma_spectrum_function(x, proton_energy_GeV):
    """F_γ(x, E_p), γ rays per unit x per collision, KAB06 eqs. 58–61 (zero outside 0 < x < 1)."""
    L = _log_energy_TeV(proton_energy_GeV)
    B = 1.30 + 0.14 * L + 0.011 * L**2
    beta = 1.0 / (1.79 + 0.11 * L + 0.008 * L**2)
    k = 1.0 / (0.801 + 0.049 * L + 0.014 * L**2)
    x_safe, inside = _inside_unit_interval(x)
    return np.where(inside, _shape_58(x_safe, B, beta, k), 0.0)


def pion_decay_muon_neutrino_function(x, proton_energy_GeV):
    """F_νμ(1)(x, E_p) of ν_μ + ν̄_μ from π → μ ν_μ, KAB06 eqs. 62–65; zero for x ≥ 0.427."""
    L = _log_energy_TeV(proton_energy_GeV)
    B = 1.75 + 0.204 * L + 0.010 * L**2
    beta = 1.0 / (1.67 + 0.111 * L + 0.0038 * L**2)
    k = 1.07 - 0.086 * L + 0.002 * L**2
    x_safe, inside = _inside_unit_interval(x, PION_DECAY_MUON_NEUTRINO_MAX_X)
    return np.where(inside, _shape_58(x_safe / PION_DECAY_MUON_NEUTRINO_MAX_X, B, beta, k), 0.0)


def electron_spectrum_function(x, proton_energy_GeV):
    """F_e(x, E_p) of e⁻ + e⁺ (≈ F_νμ(2) ≈ F_νe), KAB06 eqs. 66–69 (zero outside 0 < x < 1).

    F_e = B_e (1 + k_e ln²x)³ (−ln x)⁵ / [x (1 + 0.3/x^β_e)].
    """
    L = _log_energy_TeV(proton_energy_GeV)
    B = 1.0 / (69.5 + 2.65 * L + 0.3 * L**2)
    beta = 1.0 / (0.201 + 0.062 * L + 0.00042 * L**2) ** 0.25
    k = (0.279 + 0.141 * L + 0.0172 * L**2) / (0.3 + (2.3 + L) ** 2)
    x_safe, inside = _inside_unit_interval(x)
    log_x = np.log(x_safe)
    value = B * (1.0 + k * log_x**2) ** 3 * (-log_x) ** 5 / (x_safe * (1.0 + 0.3 / x_safe**beta))
    return np.where(inside, value, 0.0)


SECONDARIES = {
    "gamma": (gamma_spectrum_function,),
    "muon_neutrino": (pion_decay_muon_neutrino_function, electron_spectrum_function),
    "electron_neutrino": (electron_spectrum_function,),
    "all_neutrinos": (
        pion_decay_muon_neutrino_function,
        electron_spectrum_function,
        electron_spectrum_function,
    ),
    "electron_positron": (electron_spectrum_function,),
}
"""Secondary → the KAB06 functions summed for it (ν_μ = ν_μ(1) + ν_μ(2); ν_μ(2) ≈ ν_e ≈ F_e)."""


def spectrum_function(secondary: str, x, proton_energy_GeV):
    """Sum of the KAB06 functions of ``secondary`` (a key of ``SECONDARIES``) at (x, E_p)."""
    if secondary not in SECONDARIES:
        raise ValueError(f"secondary must be one of {sorted(SECONDARIES)}; got {secondary!r}")
    return sum(function(x, proton_energy_GeV) for function in SECONDARIES[secondary])


def emissivity_kernel(secondary: str, energies_GeV, proton_energies_GeV):
    """Emissivity of one proton on n_H = 1 cm⁻³: c σ_inel(E_p) F(E/E_p, E_p)/E_p [s⁻¹ GeV⁻¹] (KAB06 eq. 71).

    Shape (len(energies), len(proton energies)); E_p total energies [GeV].
    """
    energy = np.asarray(energies_GeV, dtype=float)[:, None]
    proton_energy = np.asarray(proton_energies_GeV, dtype=float)[None, :]
    sigma_cm2 = inelastic_cross_section_mb(proton_energy) * MILLIBARN_CM2
    with np.errstate(divide="ignore", invalid="ignore"):
        function = spectrum_function(secondary, energy / proton_energy, proton_energy)
    return SPEED_OF_LIGHT_CM_PER_S * sigma_cm2 * function / proton_energy
