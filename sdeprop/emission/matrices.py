"""Emission matrices: photon/neutrino/e± emissivity per cell as a matrix product q = M @ n.

For a particle density n_j [kpc⁻³ GeV⁻¹] in the bins of ``particle_edges_GeV`` (interpolated by
the basis of :mod:`sdeprop.emission.basis`), the volume emissivity at energy E_i is

    q_i = Σ_j M_ij n_j   [GeV⁻¹ cm⁻³ s⁻¹ sr⁻¹],   M_ij = (4π)⁻¹ ∫ K(E_i, T) φ_j(T) dT / (kpc³ in cm³),

with K(E, T) [s⁻¹ GeV⁻¹] the emission rate of one particle of kinetic energy T per unit target
(n_H = 1 cm⁻³ for gas; the given energy density for an ISRF component).  Multiply by the local
n_H [cm⁻³] (gas) or by U_local/U (ISRF component) to get the cell's emissivity.  Isotropic
emission is assumed (the 4π).

Builders (physics sources in their docstrings): :func:`pion_decay_matrix` (Kafexhiu et al.
2014 via naima), :func:`inverse_compton_matrices` (Khangulyan et al. 2014 via naima),
:func:`bremsstrahlung_matrix` (Baring et al. 1999 via naima), :func:`neutrino_matrix`,
:func:`pair_matrix` and :func:`kelner_gamma_matrix` (Kelner, Aharonian & Bugayov 2006, by hand in
:mod:`sdeprop.emission.kelner06`), :func:`secondary_pair_matrix` (KAB06 joined to their δ-approximation,
:mod:`sdeprop.emission.secondary_pairs`).  Builds are cached on their (rounded) arguments; the cached
matrices are read-only.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from sdeprop.emission import kelner06, naima_kernels, secondary_pairs
from sdeprop.emission.basis import (
    DEFAULT_ALPHA_REF,
    DEFAULT_NODES_PER_SEGMENT,
    basis_quadrature,
    validate_alpha_ref,
    validate_particle_edges,
)
from sdeprop.emission.nuclear import kafexhiu14_nuclear_factor
from sdeprop.models.isrf import DELAHAYE10
from sdeprop.units import ELECTRON_MASS_GEV, KPC_CM, PROTON_MASS_GEV

SPECIES = ("proton", "electron", "positron")
NEUTRINO_FLAVOURS = {"all": "all_neutrinos", "muon": "muon_neutrino", "electron": "electron_neutrino"}
NUCLEAR_ENHANCEMENT_CHOICES = ("kafexhiu14", "none")

_PER_KPC3_TO_PER_CM3_PER_SR = 1.0 / (4.0 * math.pi * KPC_CM**3)
_ROUND_SIGNIFICANT_DIGITS = 12


@dataclass(frozen=True)
class EmissionMatrix:
    """Emissivity per unit particle density and unit target for one process.

    ``matrix[i, j]`` [GeV⁻¹ cm⁻³ s⁻¹ sr⁻¹ per (kpc⁻³ GeV⁻¹)] maps bin j of ``particle_edges_GeV``
    (kinetic energy, ``species``) to energy ``photon_energies_GeV[i]`` (photon, neutrino or e±
    energy), per unit ``target``: ``"gas"`` = per n_H = 1 cm⁻³ of hydrogen nuclei,
    ``"isrf:<i>"`` = ISRF component i at the energy density ``target_energy_density_eV_per_cm3``.
    """

    process: str
    target: str
    species: str
    particle_edges_GeV: np.ndarray
    photon_energies_GeV: np.ndarray
    matrix: np.ndarray
    alpha_ref: float
    target_temperature_K: float | None = None
    target_energy_density_eV_per_cm3: float | None = None

    def apply(self, density: np.ndarray) -> np.ndarray:
        """Emissivity [GeV⁻¹ cm⁻³ s⁻¹ sr⁻¹ per unit target] of ``density`` [kpc⁻³ GeV⁻¹].

        ``density``'s last axis is the particle bins; the result's last axis is the photon energies.
        """
        values = np.asarray(density, dtype=float)
        n_bins = self.matrix.shape[1]
        if values.ndim == 0 or values.shape[-1] != n_bins:
            raise ValueError(
                f"density must have its last axis of length {n_bins} (the particle bins); "
                f"got shape {values.shape}"
            )
        if not np.all(np.isfinite(values)):
            raise ValueError("density must be finite (no NaN/inf)")
        return values @ self.matrix.T


def _validate_energies(energies_GeV, name: str) -> np.ndarray:
    energies = np.atleast_1d(np.asarray(energies_GeV, dtype=float))
    if energies.ndim != 1 or energies.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array; got shape {energies.shape}")
    if not np.all(np.isfinite(energies)) or np.any(energies <= 0.0):
        raise ValueError(f"{name} must be finite and > 0 GeV; got {energies}")
    return energies


def _key(array: np.ndarray) -> tuple[float, ...]:
    """Hashable cache key: values rounded to 12 significant digits."""
    return tuple(float(f"{value:.{_ROUND_SIGNIFICANT_DIGITS}g}") for value in array)


def _validate_species(species: str, allowed: tuple[str, ...]) -> str:
    if species not in allowed:
        raise ValueError(f"species must be one of {allowed}; got {species!r}")
    return species


def _alpha_ref_for(species: str, alpha_ref) -> float:
    return validate_alpha_ref(DEFAULT_ALPHA_REF[species] if alpha_ref is None else alpha_ref)


def _integrate(
    kernel_function, edges: tuple, energies: tuple, alpha_ref: float, rest_mass_GeV: float, nodes: int
):
    """M_ij = (4π kpc³/cm³)⁻¹ Σ_k K(E_i, T_k) W_jk (module docstring); read-only array."""
    kinetic_nodes, weights = basis_quadrature(np.array(edges), alpha_ref, nodes)
    kernel = kernel_function(np.array(energies), kinetic_nodes, kinetic_nodes + rest_mass_GeV)
    matrix = (kernel @ weights.T) * _PER_KPC3_TO_PER_CM3_PER_SR
    if not np.all(np.isfinite(matrix)):
        raise ValueError("emission matrix has non-finite entries (kernel failure)")
    matrix.setflags(write=False)
    return matrix


# ---------------------------------------------------------------- π⁰ decay


def _nuclear_enhancement_setting(nuclear_enhancement) -> tuple[bool, float]:
    """(use Kafexhiu's energy-dependent factor, constant multiplier)."""
    if isinstance(nuclear_enhancement, str):
        if nuclear_enhancement == "kafexhiu14":
            return True, 1.0
        if nuclear_enhancement == "none":
            return False, 1.0
        raise ValueError(
            f"nuclear_enhancement must be one of {NUCLEAR_ENHANCEMENT_CHOICES} or a positive number; "
            f"got {nuclear_enhancement!r}"
        )
    factor = float(nuclear_enhancement)
    if not np.isfinite(factor) or factor <= 0.0:
        raise ValueError(
            f"nuclear_enhancement as a number must be finite and > 0; got {nuclear_enhancement!r}"
        )
    return False, factor


@functools.lru_cache(maxsize=64)
def _pion_decay_cached(edges, energies, hadronic_model, use_kafexhiu, factor, alpha_ref, nodes):
    kernel = lambda E, T, _total: factor * naima_kernels.pion_decay_kernel(E, T, hadronic_model, use_kafexhiu)
    return _integrate(kernel, edges, energies, alpha_ref, PROTON_MASS_GEV, nodes)


def pion_decay_matrix(
    particle_edges_GeV,
    photon_energies_GeV,
    hadronic_model: str = "Pythia8",
    nuclear_enhancement="kafexhiu14",
    alpha_ref: float | None = None,
    nodes_per_segment: int = DEFAULT_NODES_PER_SEGMENT,
) -> EmissionMatrix:
    """π⁰-decay γ rays of protons on gas per n_H = 1 cm⁻³ (Kafexhiu et al. 2014, PRD 90, 123014; naima).

    ``hadronic_model``: the high-energy parametrisation of Kafexhiu et al. (their Tables IV–V):
    "Pythia8", "Geant4", "SIBYLL", "QGSJET".  ``nuclear_enhancement``: "kafexhiu14" multiplies the
    pp cross section by their energy-dependent factor ε(T_p) (eq. 24, local ISM and CR composition:
    ε ≈ 1.8–1.9), "none" gives pure pp, a number multiplies pure pp by that constant.

    The enhancement accounts for He and heavier nuclei **both in the cosmic rays and in the ISM**,
    so the target is the hydrogen-nucleus density n_H and the proton density stands for all CR
    nuclei: do not add an explicit He target or CR He on top of it (that would count them twice).
    The density is per unit **kinetic** energy; naima's distribution is per unit total energy
    (PionDecay uses T_p = E_p − m_p), handled in :mod:`sdeprop.emission.naima_kernels`.
    """
    edges = validate_particle_edges(particle_edges_GeV)
    energies = _validate_energies(photon_energies_GeV, "photon_energies_GeV")
    if hadronic_model not in naima_kernels.HADRONIC_MODELS:
        raise ValueError(
            f"hadronic_model must be one of {naima_kernels.HADRONIC_MODELS}; got {hadronic_model!r}"
        )
    use_kafexhiu, factor = _nuclear_enhancement_setting(nuclear_enhancement)
    alpha = _alpha_ref_for("proton", alpha_ref)
    matrix = _pion_decay_cached(
        _key(edges), _key(energies), hadronic_model, use_kafexhiu, factor, alpha, int(nodes_per_segment)
    )
    return EmissionMatrix("pion_decay", "gas", "proton", edges, energies, matrix, alpha)


# ---------------------------------------------------------------- inverse Compton


def _validate_isrf_components(isrf_components) -> tuple[tuple[float, float], ...]:
    components = tuple(tuple(float(v) for v in component) for component in isrf_components)
    for i, component in enumerate(components):
        if len(component) != 2 or not all(np.isfinite(component)) or component[0] <= 0 or component[1] < 0:
            raise ValueError(
                f"isrf_components[{i}] must be (T_K > 0, U_eV_per_cm3 ≥ 0); got {isrf_components[i]!r}"
            )
    if not components:
        raise ValueError("isrf_components must hold at least one (T_K, U_eV_per_cm3) pair; got none")
    return components


@functools.lru_cache(maxsize=64)
def _inverse_compton_cached(edges, energies, temperature_K, energy_density, alpha_ref, nodes):
    kernel = lambda E, T, _total: naima_kernels.inverse_compton_kernel(E, T, temperature_K, energy_density)
    return _integrate(kernel, edges, energies, alpha_ref, ELECTRON_MASS_GEV, nodes)


def inverse_compton_matrices(
    particle_edges_GeV,
    photon_energies_GeV,
    isrf_components=DELAHAYE10,
    species: str = "electron",
    alpha_ref: float | None = None,
    nodes_per_segment: int = DEFAULT_NODES_PER_SEGMENT,
) -> list[EmissionMatrix]:
    """IC γ rays of e± on isotropic grey bodies, one matrix per ISRF component (target ``"isrf:<i>"``).

    Full Klein–Nishina cross section on a diluted Planck spectrum (Khangulyan, Aharonian & Kelner
    2014, ApJ 783, 100, eq. 14, via naima.InverseCompton).  ``isrf_components``: (T [K], U [eV cm⁻³])
    pairs, default the Delahaye et al. 2010 local field (:data:`sdeprop.models.isrf.DELAHAYE10`).  Each
    matrix is for its component at energy density U; the emissivity scales linearly with U.
    """
    edges = validate_particle_edges(particle_edges_GeV)
    energies = _validate_energies(photon_energies_GeV, "photon_energies_GeV")
    _validate_species(species, ("electron", "positron"))
    components = _validate_isrf_components(isrf_components)
    alpha = _alpha_ref_for(species, alpha_ref)
    return [
        EmissionMatrix(
            "inverse_compton",
            f"isrf:{i}",
            species,
            edges,
            energies,
            _inverse_compton_cached(_key(edges), _key(energies), t_K, u_eV, alpha, int(nodes_per_segment)),
            alpha,
            target_temperature_K=t_K,
            target_energy_density_eV_per_cm3=u_eV,
        )
        for i, (t_K, u_eV) in enumerate(components)
    ]


# ---------------------------------------------------------------- bremsstrahlung


@functools.lru_cache(maxsize=64)
def _bremsstrahlung_cached(edges, energies, weight_ee, weight_ei, alpha_ref, nodes):
    kernel = lambda E, T, _total: naima_kernels.bremsstrahlung_kernel(E, T, weight_ee, weight_ei)
    return _integrate(kernel, edges, energies, alpha_ref, ELECTRON_MASS_GEV, nodes)


def bremsstrahlung_matrix(
    particle_edges_GeV,
    photon_energies_GeV,
    species: str = "electron",
    helium_ratio: float = 0.1,
    alpha_ref: float | None = None,
    nodes_per_segment: int = DEFAULT_NODES_PER_SEGMENT,
) -> EmissionMatrix:
    """Bremsstrahlung γ rays of e± on gas, per n_H = 1 cm⁻³ (Baring et al. 1999, ApJ 513, 311, via naima).

    naima treats the target as **fully ionised** gas: e–e bremsstrahlung on free electrons (Baring
    et al. eqs. A1–A5) weighted by Σ Z_i n_i, and e–nucleus bremsstrahlung with the unscreened
    ultra-relativistic cross section (their eq. A2) weighted by Σ Z_i² n_i.  Per hydrogen nucleus,
    with y = ``helium_ratio`` = n_He/n_H: weight_ee = 1 + 2y and weight_e-ion = 1 + 4y (naima's own
    default, n_He/n_H = 0.0959 per ion, is the same rule).  Neutral-gas screening, which lowers the
    e–atom cross section at high energies, is not included.
    """
    edges = validate_particle_edges(particle_edges_GeV)
    energies = _validate_energies(photon_energies_GeV, "photon_energies_GeV")
    _validate_species(species, ("electron", "positron"))
    ratio = float(helium_ratio)
    if not np.isfinite(ratio) or ratio < 0.0:
        raise ValueError(f"helium_ratio (n_He/n_H) must be finite and ≥ 0; got {helium_ratio!r}")
    alpha = _alpha_ref_for(species, alpha_ref)
    matrix = _bremsstrahlung_cached(
        _key(edges), _key(energies), 1.0 + 2.0 * ratio, 1.0 + 4.0 * ratio, alpha, int(nodes_per_segment)
    )
    return EmissionMatrix("bremsstrahlung", "gas", species, edges, energies, matrix, alpha)


# ---------------------------------------------------------------- Kelner et al. 2006


def _validate_kab06_energies(energies_GeV, name: str) -> np.ndarray:
    energies = _validate_energies(energies_GeV, name)
    if np.any(energies < kelner06.KAB06_MIN_ENERGY_GEV):
        raise ValueError(
            f"{name} must be ≥ {kelner06.KAB06_MIN_ENERGY_GEV} GeV (the KAB06 fits hold for protons above "
            f"100 GeV and a secondary of energy E needs E_p ≥ E); got min {energies.min():.4g} GeV. "
            "For γ rays below use pion_decay_matrix."
        )
    return energies


@functools.lru_cache(maxsize=64)
def _kelner_cached(edges, energies, secondary, use_kafexhiu, factor, alpha_ref, nodes):
    def kernel(E, T, total):
        k = kelner06.emissivity_kernel(secondary, E, total) * factor
        return k * kafexhiu14_nuclear_factor(T)[None, :] if use_kafexhiu else k

    return _integrate(kernel, edges, energies, alpha_ref, PROTON_MASS_GEV, nodes)


def _kelner_matrix(
    process, secondary, particle_edges_GeV, energies_GeV, name, alpha_ref, nodes, nuclear_enhancement
):
    edges = validate_particle_edges(particle_edges_GeV)
    energies = _validate_kab06_energies(energies_GeV, name)
    alpha = _alpha_ref_for("proton", alpha_ref)
    use_kafexhiu, factor = _nuclear_enhancement_setting(nuclear_enhancement)
    matrix = _kelner_cached(_key(edges), _key(energies), secondary, use_kafexhiu, factor, alpha, int(nodes))
    return EmissionMatrix(process, "gas", "proton", edges, energies, matrix, alpha)


def kelner_gamma_matrix(
    particle_edges_GeV,
    photon_energies_GeV,
    alpha_ref=None,
    nodes_per_segment=DEFAULT_NODES_PER_SEGMENT,
    nuclear_enhancement="none",
) -> EmissionMatrix:
    """π⁰ (and η) decay γ rays per n_H = 1 cm⁻³: KAB06 eqs. 58, 71, σ_inel eq. 79; E_γ ≥ 100 GeV.
    ``nuclear_enhancement`` as in pion_decay_matrix (default "none": pure pp, as KAB06)."""
    return _kelner_matrix(
        "pion_decay_kelner06", "gamma", particle_edges_GeV, photon_energies_GeV, "photon_energies_GeV",
        alpha_ref, nodes_per_segment, nuclear_enhancement,
    )  # fmt: skip


def neutrino_matrix(
    particle_edges_GeV,
    neutrino_energies_GeV,
    flavour: str = "all",
    alpha_ref: float | None = None,
    nodes_per_segment: int = DEFAULT_NODES_PER_SEGMENT,
    nuclear_enhancement="kafexhiu14",
) -> EmissionMatrix:
    """Neutrinos + antineutrinos from pp per n_H = 1 cm⁻³ at the source (no oscillation), E_ν ≥ 100 GeV.

    KAB06 eq. 71 with ``flavour`` "muon": F_νμ(1) (eq. 62) + F_νμ(2) ≈ F_e (eq. 66); "electron":
    F_νe ≈ F_e (eq. 66); "all": the sum.  σ_inel of KAB06 eq. 79.  ``nuclear_enhancement``: as in
    pion_decay_matrix (default "kafexhiu14", the same factor as the γ rays, emission/nuclear.py, so
    that ν and γ maps count the same nuclei).
    """
    if flavour not in NEUTRINO_FLAVOURS:
        raise ValueError(f"flavour must be one of {tuple(NEUTRINO_FLAVOURS)}; got {flavour!r}")
    return _kelner_matrix(
        f"neutrino_{flavour}", NEUTRINO_FLAVOURS[flavour], particle_edges_GeV, neutrino_energies_GeV,
        "neutrino_energies_GeV", alpha_ref, nodes_per_segment, nuclear_enhancement,
    )  # fmt: skip


def pair_matrix(
    particle_edges_GeV,
    lepton_energies_GeV,
    alpha_ref: float | None = None,
    nodes_per_segment: int = DEFAULT_NODES_PER_SEGMENT,
    nuclear_enhancement="kafexhiu14",
) -> EmissionMatrix:
    """Secondary electrons + positrons from pp per n_H = 1 cm⁻³: KAB06 eqs. 66 and 71; E_e ≥ 100 GeV.

    The result is a source term of e⁻ + e⁺ together per unit (total ≈ kinetic) lepton energy;
    ``nuclear_enhancement`` as in neutrino_matrix.
    """
    return _kelner_matrix(
        "secondary_pairs", "electron_positron", particle_edges_GeV, lepton_energies_GeV,
        "lepton_energies_GeV", alpha_ref, nodes_per_segment, nuclear_enhancement,
    )  # fmt: skip


@functools.lru_cache(maxsize=64)
def _secondary_pairs_cached(edges, energies, matching_index, use_kafexhiu, factor, alpha_ref, nodes):
    def kernel(E, T, _total):
        k = secondary_pairs.pair_kernel(E, T, matching_index) * factor
        return k * kafexhiu14_nuclear_factor(T)[None, :] if use_kafexhiu else k

    return _integrate(kernel, edges, energies, alpha_ref, PROTON_MASS_GEV, nodes)


def secondary_pair_matrix(
    particle_edges_GeV,
    lepton_energies_GeV,
    matching_index: float = secondary_pairs.DEFAULT_MATCHING_INDEX,
    alpha_ref: float | None = None,
    nodes_per_segment: int = DEFAULT_NODES_PER_SEGMENT,
    nuclear_enhancement="kafexhiu14",
) -> EmissionMatrix:
    """Secondary e⁻ + e⁺ from pp per n_H = 1 cm⁻³ for E_e ≥ 0.5 GeV: KAB06 eqs. 66–71 joined to their
    δ-approximation (eqs. 36–39, 78) at 100–300 GeV (emission/secondary_pairs.py).

    ``matching_index``: the proton index for which ñ makes both regimes agree at 100 GeV;
    ``nuclear_enhancement`` as in neutrino_matrix.  Lepton energies above the last proton edge are
    refused (no proton in the tally could make them).
    """
    edges = validate_particle_edges(particle_edges_GeV)
    energies = _validate_energies(lepton_energies_GeV, "lepton_energies_GeV")
    low, high = secondary_pairs.MIN_LEPTON_ENERGY_GEV, edges[-1]
    if np.any(energies < low) or np.any(energies > high):
        raise ValueError(
            f"lepton_energies_GeV must lie within [{low}, {high:.6g}] GeV (the δ-approximation needs "
            f"E_e ≥ {low} GeV; the upper end is the last proton edge); got [{energies.min():.4g}, "
            f"{energies.max():.4g}] GeV"
        )
    alpha = _alpha_ref_for("proton", alpha_ref)
    use_kafexhiu, factor = _nuclear_enhancement_setting(nuclear_enhancement)
    index = float(matching_index)
    secondary_pairs.delta_multiplicity(index)  # validates
    matrix = _secondary_pairs_cached(
        _key(edges), _key(energies), index, use_kafexhiu, factor, alpha, int(nodes_per_segment)
    )
    return EmissionMatrix("secondary_pairs_joined", "gas", "proton", edges, energies, matrix, alpha)


def clear_cache() -> None:
    """Forget all cached matrices."""
    for cached in (
        _pion_decay_cached,
        _inverse_compton_cached,
        _bremsstrahlung_cached,
        _kelner_cached,
        _secondary_pairs_cached,
    ):
        cached.cache_clear()
