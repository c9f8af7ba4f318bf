"""Reacceleration: diffusion in momentum by the Alfvén waves that scatter the particles.

D_pp D_xx = 4 p² v_A² / (3 δ (4 − δ²)(4 − δ) ω)   (Seo & Ptuskin 1994, ApJ 431 705; ω = 1)

with δ the turbulence spectrum's index (the rigidity index of D).  We take D_xx = D∥ at the particle
(the coefficient the scattering sets).  The Fokker–Planck term ∂_p[p² D_pp ∂_p(N/p²)] for the number
N per unit momentum is the generator of the Itô process in y = ln p

    dy = K (3 − δ_D) dt + sqrt(2 K) dW,   K = D_pp/p² = 4 v_A²/(3 δ (4 − δ²)(4 − δ) D∥),

δ_D = d ln D∥/d ln p (which includes the momentum dependence of β); docs/transport.md derives it.
"""

from __future__ import annotations

from numba import njit

from ..units import speed_km_s_to_kpc_per_myr


def alfven_speed_kpc_per_myr(cfg) -> float:
    """v_A [kpc/Myr] of ``[reacceleration]``."""
    return speed_km_s_to_kpc_per_myr(cfg.reacceleration.alfven_speed_km_s)


@njit(cache=True, inline="always", error_model="numpy")
def momentum_diffusion_rate(va2, delta, dpar):
    """K = D_pp/p² [Myr⁻¹] for v_A² [kpc²/Myr²], the spectrum index δ and D∥ [kpc²/Myr] (Seo & Ptuskin
    1994, ω = 1)."""
    return 4.0 * va2 / (3.0 * delta * (4.0 - delta * delta) * (4.0 - delta) * dpar)


def has_reacceleration(cfg) -> bool:
    """Whether the validated configuration ``cfg`` has reacceleration (an Alfvén speed above zero)."""
    return cfg.reacceleration.alfven_speed_km_s > 0.0
