"""Absorption of γ rays by pair production on the interstellar radiation field (γγ → e⁺e⁻).

A photon of energy E crossing an isotropic photon gas of spectral density n(ε) [cm⁻³ eV⁻¹] is
absorbed at the rate per unit length (Gould & Schréder 1967, Phys. Rev. 155, 1404, eq. 2)

    κ(E) = ∫ dε n(ε) ∫_{−1}^{1} dμ/2 (1 − μ) σ_γγ(x),    x = E ε (1 − μ) / (2 (m_e c²)²),

with the Breit–Wheeler cross section (Gould & Schréder eq. 3; Jauch & Rohrlich)

    σ_γγ = (3 σ_T / 16) (1 − β²) [(3 − β⁴) ln((1 + β)/(1 − β)) − 2 β (2 − β²)],    β = √(1 − 1/x),

zero below threshold x < 1.  For the grey bodies of the ISRF model (sdeprop.models.isrf) n(ε) is a
Planck spectrum of temperature T diluted to the energy density U:
n(ε) = (U / (a T⁴)) ε² / (π² (ħc)³ (e^{ε/kT} − 1)).  The integrals are done numerically on a log
grid in ε and, for the angle, in x (Gould & Schréder's angle-integrated form,
∫ dμ/2 (1 − μ) σ = 2 m⁴/(Eε)² ∫_1^{Eε/m²} x σ(x) dx).  tests/test_emission.py checks it against
the direct double integral over ε and μ.  On the CMB alone the absorption length 1/κ has its
minimum, about 7 kpc, near E ≈ 2.2 PeV, the minimum near 2 PeV that Moskalenko, Porter & Strong 2006
(ApJ 640, L155) show.
"""

from __future__ import annotations

import numpy as np

from ..models.isrf import A_RAD_EV_CM3_K4
from ..models.loss_processes import HBARC_GEV_CM, K_B_EV_K, M_E_GEV, SIGMA_T_CM2
from ..units import KPC_CM

# the loss model's constants (docs/physics.md §0.1) in the eV units used here
THOMSON_CM2 = SIGMA_T_CM2
ELECTRON_REST_EV = M_E_GEV * 1e9
HBAR_C_EV_CM = HBARC_GEV_CM * 1e9
BOLTZMANN_EV_PER_K = K_B_EV_K


def breit_wheeler_cm2(x):
    """σ_γγ(x) [cm²] for x = s/(4 m_e²c⁴) (module docstring); zero for x ≤ 1."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.sqrt(np.clip(1.0 - 1.0 / x, 0.0, 1.0))
        b2 = b * b
        sigma = (
            3 * THOMSON_CM2 / 16 * (1 - b2) * ((3 - b2 * b2) * np.log((1 + b) / (1 - b)) - 2 * b * (2 - b2))
        )
    return np.where(x > 1.0, np.nan_to_num(sigma), 0.0)


def grey_body_opacity_per_kpc(photon_energies_GeV, temperature_K: float, energy_density_eV_cm3: float):
    """κ(E) [kpc⁻¹] of pair production on an isotropic grey body (T, U) at the photon energies E [GeV]."""
    if not (temperature_K > 0 and energy_density_eV_cm3 >= 0):
        raise ValueError(
            f"grey body needs T > 0 K and U ≥ 0 eV/cm³; got T={temperature_K!r}, U={energy_density_eV_cm3!r}"
        )
    energies_eV = np.atleast_1d(np.asarray(photon_energies_GeV, dtype=float)) * 1e9
    kT = BOLTZMANN_EV_PER_K * temperature_K
    dilution = energy_density_eV_cm3 / (A_RAD_EV_CM3_K4 * temperature_K**4)
    eps = kT * np.geomspace(1e-4, 60.0, 800)  # the Planck spectrum's range [eV]
    n_eps = dilution * eps**2 / (np.pi**2 * HBAR_C_EV_CM**3 * np.expm1(eps / kT))  # cm⁻³ eV⁻¹
    m2 = ELECTRON_REST_EV**2
    u = np.linspace(0.0, 1.0, 400)
    out = np.empty(len(energies_eV))
    for k, e in enumerate(energies_eV):
        # the angle integral in x = Eε(1 − μ)/(2m²): ∫ dμ/2 (1 − μ) σ = 2m⁴/(Eε)² ∫_1^{Eε/m²} x σ(x) dx,
        # on a grid in ln x from threshold
        x_max = e * eps / m2
        ln_top = np.log(np.maximum(x_max, 1.0))
        x = np.exp(u[None, :] * ln_top[:, None])
        integrand = x * x * breit_wheeler_cm2(x)  # x σ(x) dx = x² σ(x) d ln x
        inner = 2 * m2 * m2 / (e * eps) ** 2 * np.trapezoid(integrand, u, axis=1) * ln_top
        out[k] = np.trapezoid(n_eps * inner, eps)
    return out * KPC_CM


def isrf_opacity_per_kpc(photon_energies_GeV, isrf_components) -> np.ndarray:
    """(n_components, n_E) κ_i(E) [kpc⁻¹] of each ISRF grey body (T_K, U_eV_cm3) at its given energy
    density; the line of sight scales row i by the local U_i(x)/U_i."""
    return np.array([grey_body_opacity_per_kpc(photon_energies_GeV, t, u) for t, u in isrf_components])
