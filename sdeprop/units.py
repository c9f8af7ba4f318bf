"""Unit conversions: the one place where user units meet the internal system.

Internal units (docs/design.md §5): length kpc, time Myr, energy GeV, magnetic field μG.
Users give diffusion coefficients in cm²/s, rigidities in GV, energies in GeV and
fields in μG; these are converted once, when the configuration is turned into
model parameters.  Constants follow docs/physics.md §0.1.
"""

from __future__ import annotations

KPC_CM = 3.0857e21
"""One kiloparsec in cm."""
MYR_S = 3.1558e13
"""One megayear (Julian) in s."""
KPC2_PER_MYR_IN_CM2_PER_S = KPC_CM**2 / MYR_S
"""1 kpc²/Myr expressed in cm²/s (≈ 3.017e29)."""

SPEED_OF_LIGHT_KPC_PER_MYR = 2.99792458e10 * MYR_S / KPC_CM
"""The speed of light in kpc/Myr (≈ 306.6)."""

SPEED_OF_LIGHT_CM_PER_S = 2.99792458e10
"""The speed of light in cm/s."""
MILLIBARN_CM2 = 1.0e-27
"""One millibarn in cm²."""

PROTON_MASS_GEV = 0.93827209
ELECTRON_MASS_GEV = 0.51099895e-3


def diffusion_cm2_per_s_to_kpc2_per_myr(value_cm2_per_s: float) -> float:
    """Convert a diffusion coefficient from cm²/s to kpc²/Myr (1e28 cm²/s = 0.03314 kpc²/Myr)."""
    return value_cm2_per_s / KPC2_PER_MYR_IN_CM2_PER_S


def diffusion_kpc2_per_myr_to_cm2_per_s(value_kpc2_per_myr: float) -> float:
    """Convert a diffusion coefficient from kpc²/Myr to cm²/s."""
    return value_kpc2_per_myr * KPC2_PER_MYR_IN_CM2_PER_S


def per_kpc3_to_per_cm3(value_per_kpc3):
    """Convert a number density from kpc⁻³ to cm⁻³."""
    return value_per_kpc3 / KPC_CM**3


def per_myr_to_per_s(value_per_myr):
    """Convert a rate from Myr⁻¹ to s⁻¹."""
    return value_per_myr / MYR_S


def speed_km_s_to_kpc_per_myr(value_km_s):
    """Speed [km/s] → [kpc/Myr] (1 km/s ≈ 1.0227e-3 kpc/Myr)."""
    return value_km_s * 1e5 * MYR_S / KPC_CM
