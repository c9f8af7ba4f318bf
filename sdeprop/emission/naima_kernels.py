"""Per-particle emission kernels taken from naima's radiative models.

An emission matrix needs the emissivity of **one** particle of kinetic energy T,
K(E, T) [s⁻¹ GeV⁻¹], which naima does not expose: its public ``flux``/``sed`` integrate K over a
particle distribution with a trapezoid rule in log–log space (not linear in the distribution).
These functions call the cross-section methods that naima's public models integrate, so the
physics is naima's, and the quadrature over T is ours (:mod:`sdeprop.emission.basis`).
``tests/test_emission.py`` compares the resulting matrices with naima's public API, which
guards against changes of these (underscore) methods; the code was written against naima 0.10.4.

Energies: naima's particle distributions are functions of the **total** energy (E_p = T + m_p
in PionDecay, where it takes Tp = Ep − m_p; γ m_e c² with γ = (T + m_e c²)/m_e c² for electrons);
dE = dT, so a density per unit kinetic energy enters unchanged, only the argument is shifted.

Sources: Kafexhiu et al. 2014 (PRD 90, 123014) for π⁰ decay; Khangulyan, Aharonian & Kelner 2014
(ApJ 783, 100, eq. 14) for inverse Compton on a grey body; Baring et al. 1999 (ApJ 513, 311,
eqs. A1–A5) for bremsstrahlung.
"""

from __future__ import annotations

import warnings

import astropy.units as u
import numpy as np
from naima.models import Bremsstrahlung, InverseCompton, PionDecay, PowerLaw

from sdeprop.units import SPEED_OF_LIGHT_CM_PER_S

HADRONIC_MODELS = ("Pythia8", "Geant4", "SIBYLL", "QGSJET")
"""High-energy models of Kafexhiu et al. 2014 available in naima.PionDecay."""

_PLACEHOLDER_DISTRIBUTION = PowerLaw(1.0 / u.eV, 1.0 * u.TeV, 2.0)
"""naima models need a distribution to be built; the kernels never evaluate it."""


def _electron_rest_energy_GeV() -> float:
    """m_e c² [GeV] exactly as naima uses it (astropy constants), so γ matches naima's grid."""
    from naima.radiative import mec2

    return float(mec2.to("GeV").value)


def _require_finite(kernel: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(kernel)):
        raise ValueError(f"{what}: naima returned non-finite cross sections (naima version change?)")
    return kernel


def pion_decay_kernel(
    photon_energies_GeV: np.ndarray,
    kinetic_energies_GeV: np.ndarray,
    hadronic_model: str,
    nuclear_enhancement: bool,
) -> np.ndarray:
    """γ-ray emissivity of one proton on n_H = 1 cm⁻³, K(E_γ, T) [s⁻¹ GeV⁻¹], shape (n_E, n_T).

    K = c n_H dσ/dE_γ(T_p, E_γ) with the Kafexhiu et al. 2014 differential cross section (eqs. 8–12,
    high-energy parameters of their Table IV/V for ``hadronic_model``), times their nuclear
    enhancement factor ε(T_p) (eq. 24) when ``nuclear_enhancement``.  naima's analytic form is used,
    not its Pythia8 lookup table.
    """
    model = PionDecay(
        _PLACEHOLDER_DISTRIBUTION,
        nh=1.0 / u.cm**3,
        nuclear_enhancement=bool(nuclear_enhancement),
        hiEmodel=hadronic_model,
        useLUT=False,
    )
    total_energy = np.asarray(kinetic_energies_GeV, dtype=float) + model._m_p
    above_threshold = kinetic_energies_GeV > model._Tth
    kernel = np.zeros((len(photon_energies_GeV), total_energy.size))
    if not np.any(above_threshold):
        return kernel
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for i, photon_energy in enumerate(photon_energies_GeV):
            diffsigma_cm2_per_GeV = model._diffsigma(total_energy[above_threshold], float(photon_energy))
            kernel[i, above_threshold] = np.nan_to_num(diffsigma_cm2_per_GeV, nan=0.0)
    return _require_finite(kernel * SPEED_OF_LIGHT_CM_PER_S, "pion_decay_kernel")


def inverse_compton_kernel(
    photon_energies_GeV: np.ndarray,
    kinetic_energies_GeV: np.ndarray,
    temperature_K: float,
    energy_density_eV_per_cm3: float,
) -> np.ndarray:
    """IC emissivity of one electron on an isotropic grey body, K(E_γ, T) [s⁻¹ GeV⁻¹], shape (n_E, n_T).

    Full Klein–Nishina cross section integrated over a Planck spectrum of temperature ``T`` diluted
    to energy density ``U`` (Khangulyan, Aharonian & Kelner 2014, eq. 14, as in naima.InverseCompton).
    """
    electron_rest_GeV = _electron_rest_energy_GeV()
    lorentz_factor = (np.asarray(kinetic_energies_GeV, dtype=float) + electron_rest_GeV) / electron_rest_GeV
    photon_energy_mec2 = np.asarray(photon_energies_GeV, dtype=float) / electron_rest_GeV
    from naima.radiative import ar

    dilution = float(
        ((energy_density_eV_per_cm3 * u.eV / u.cm**3) / (ar * (temperature_K * u.K) ** 4)).decompose()
    )
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        rate_per_s = InverseCompton._iso_ic_on_planck(
            lorentz_factor, float(temperature_K), photon_energy_mec2
        )
    rate_per_s = np.nan_to_num(np.asarray(rate_per_s, dtype=float), nan=0.0)
    # naima: dN/dE_γ = dilution · gamint / (m_e c²)   (InverseCompton._calc_specic)
    return _require_finite(dilution * rate_per_s / electron_rest_GeV, "inverse_compton_kernel")


def bremsstrahlung_kernel(
    photon_energies_GeV: np.ndarray,
    kinetic_energies_GeV: np.ndarray,
    weight_electron_electron: float,
    weight_electron_ion: float,
) -> np.ndarray:
    """Bremsstrahlung emissivity of one electron, K(E_γ, T) [s⁻¹ GeV⁻¹] for n0 = 1 cm⁻³, shape (n_E, n_T).

    K = c n0 [w_ee σ_ee(γ, E_γ) + w_ei σ_ep(γ, E_γ)] with the Baring et al. 1999 cross sections
    (e–e: eqs. A1–A5; e–ion: eq. A2, unscreened, ultra-relativistic), as in naima.Bremsstrahlung.
    """
    model = Bremsstrahlung(
        _PLACEHOLDER_DISTRIBUTION,
        n0=1.0 / u.cm**3,
        weight_ee=float(weight_electron_electron),
        weight_ep=float(weight_electron_ion),
    )
    electron_rest_GeV = _electron_rest_energy_GeV()
    lorentz_factor = (np.asarray(kinetic_energies_GeV, dtype=float) + electron_rest_GeV) / electron_rest_GeV
    photon_energy = np.asarray(photon_energies_GeV, dtype=float) * u.GeV
    gam = np.vstack(lorentz_factor)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        sigma_ee = model._sigma_ee(gam, photon_energy).to_value(u.cm**2 / u.GeV)
        epsilon = (photon_energy / (electron_rest_GeV * u.GeV)).decompose().value
        sigma_ep = model._sigma_ep(gam, epsilon).to_value(u.cm**2 / u.GeV)
    sigma = weight_electron_electron * np.nan_to_num(sigma_ee) + weight_electron_ion * np.nan_to_num(sigma_ep)
    return _require_finite(SPEED_OF_LIGHT_CM_PER_S * sigma.T, "bremsstrahlung_kernel")
