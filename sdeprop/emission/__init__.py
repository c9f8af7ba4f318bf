"""Emissivity matrices from binned particle densities to photon, neutrino and e± energies.

q = M @ n per cell: :mod:`~sdeprop.emission.basis` (in-bin representation of the tallies),
:mod:`~sdeprop.emission.matrices` (builders and :class:`EmissionMatrix`),
:mod:`~sdeprop.emission.kelner06` (Kelner, Aharonian & Bugayov 2006, PRD 74, 034018) and
:mod:`~sdeprop.emission.naima_kernels` (Kafexhiu et al. 2014 π⁰ decay, Khangulyan et al. 2014
inverse Compton, Baring et al. 1999 bremsstrahlung, through naima).  See docs/emission.md.
"""

from sdeprop.emission.basis import (
    DEFAULT_ALPHA_REF,
    basis_functions,
    bin_centres_GeV,
    reconstruct_density,
    sample_at_centres,
)
from sdeprop.emission.matrices import (
    EmissionMatrix,
    bremsstrahlung_matrix,
    clear_cache,
    inverse_compton_matrices,
    kelner_gamma_matrix,
    neutrino_matrix,
    pair_matrix,
    pion_decay_matrix,
    secondary_pair_matrix,
)

__all__ = [
    "DEFAULT_ALPHA_REF",
    "EmissionMatrix",
    "basis_functions",
    "bin_centres_GeV",
    "bremsstrahlung_matrix",
    "clear_cache",
    "inverse_compton_matrices",
    "kelner_gamma_matrix",
    "neutrino_matrix",
    "pair_matrix",
    "pion_decay_matrix",
    "reconstruct_density",
    "sample_at_centres",
    "secondary_pair_matrix",
]
