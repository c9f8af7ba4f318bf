"""Nuclear enhancement of pp secondaries: Kafexhiu, Aharonian, Taylor & Vila 2014 (PRD 90, 123014), §IV.

Helium and heavier nuclei, among the cosmic rays and in the interstellar gas, add secondaries that
pure pp on hydrogen misses.  Kafexhiu et al. fold them into one factor on the pp cross section,

    ε(T_p) = ε_c + (ε₁ + ε₂) σ_R^pp G(T_p) / σ_inel(T_p),          (their eqs. 21–24)

with ε_c = 1.37, ε₁ = 0.29, ε₂ = 0.1 for local ISM and CR abundances, σ_R^pp = 10π mb,
G = 1 + ln max(1, σ_inel(T_p)/σ_inel(1 TeV)) and σ_inel their eq. 1 (docs/emission.md).  It falls
from 1.79 at 10 GeV to 1.72 at 1 TeV and 1.69 at 1 PeV; below T_p = 1 GeV it is frozen at its
1 GeV value (as naima does), where the formula diverges toward threshold.  The target density it
multiplies is n_H: explicit helium must not be added on top.
"""

from __future__ import annotations

import numpy as np

from ..models.loss_processes import M_PI0_GEV, sigma_inel_pp_mb
from ..units import PROTON_MASS_GEV

THRESHOLD_KINETIC_GEV = 2 * M_PI0_GEV + M_PI0_GEV**2 / (2 * PROTON_MASS_GEV)
"""T_th = 2 m_π + m_π²/(2 m_p) = 0.27966 GeV unrounded (Kafexhiu et al. 2014; naima uses this value)."""


def kafexhiu14_inelastic_cross_section_mb(kinetic_GeV):
    """σ_inel(T_p) [mb] of Kafexhiu et al. 2014 eq. 1 (models.loss_processes.sigma_inel_pp_mb with the
    unrounded threshold) at an array of proton kinetic energies [GeV]."""
    t = np.asarray(kinetic_GeV, dtype=float)
    return np.array([sigma_inel_pp_mb(v, THRESHOLD_KINETIC_GEV) for v in t.ravel()]).reshape(t.shape)


def kafexhiu14_nuclear_factor(kinetic_GeV):
    """ε(T_p) of Kafexhiu et al. 2014 eq. 24 (module docstring); T_p the proton kinetic energy [GeV]."""
    t = np.maximum(np.asarray(kinetic_GeV, dtype=float), 1.0)
    sigma = kafexhiu14_inelastic_cross_section_mb(t)
    g = 1.0 + np.log(np.maximum(1.0, sigma / kafexhiu14_inelastic_cross_section_mb(1.0e3)))
    return 1.37 + (0.29 + 0.1) * (10.0 * np.pi) * g / sigma
