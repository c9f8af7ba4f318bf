"""In-bin representation of a binned particle density (the basis shared by every emission matrix).

A tally stores, per spatial cell, the density n_j [kpc⁻³ GeV⁻¹] in kinetic-energy bins j with
edges ``particle_edges_GeV``.  An emissivity is an integral over the continuous density n(T),
so the bins need an interpolation rule that is linear in the n_j:

    n(T) = Σ_j n_j φ_j(T),     φ_j(T) = (T/T_j)^(−α_ref) h_j(ln T),

with T_j = √(T_j,lo T_j,hi) the geometric bin centre and h_j the hat function in ln T that is 1
at T_j and falls linearly to 0 at the neighbouring centres (a partition of unity).  The first and
last bins are **extended to the outer edges**: h_0 = 1 on [T_edge,0, T_0] and h_last = 1 on
[T_last, T_edge,last], i.e. the density continues as the power law (T/T_j)^(−α_ref) into the outer
half bins; outside the edges it is zero.

Consequences:

* a pure power law n ∝ T^(−α_ref) sampled at the centres (n_j = n(T_j)) is reproduced exactly
  on the whole range [first edge, last edge];
* for another slope α the interpolant between two centres is T^(−α_ref) times the linear
  interpolant of T^(α_ref − α) in ln T, whose relative error is at most (Δ |α − α_ref|)²/8 for
  a bin width Δ in ln T (0.4 % for 10 bins per decade and |α − α_ref| = 0.8); the error of the
  emissivities is smaller because they average over several bins (docs/emission.md, table);
* in the outer half bins the density follows α_ref, not the true slope.

The default reference slopes are 2.7 for protons and 3.0 for electrons/positrons.
"""

from __future__ import annotations

import numpy as np

DEFAULT_ALPHA_REF = {"proton": 2.7, "electron": 3.0, "positron": 3.0}
"""Reference slope α_ref per species (a power law of this index is represented exactly)."""

DEFAULT_NODES_PER_SEGMENT = 16
"""Gauss–Legendre nodes per segment (in ln T) of the basis quadrature."""


def validate_particle_edges(particle_edges_GeV) -> np.ndarray:
    """Return the bin edges [GeV] as a float array; raise ValueError unless 1-D, ≥ 2, positive, increasing."""
    edges = np.asarray(particle_edges_GeV, dtype=float)
    if edges.ndim != 1 or edges.size < 2:
        raise ValueError(
            f"particle_edges_GeV must be a 1-D array of at least 2 edges; got shape {edges.shape}"
        )
    if not np.all(np.isfinite(edges)) or np.any(edges <= 0.0):
        raise ValueError(f"particle_edges_GeV must be finite and > 0 GeV; got {edges}")
    if np.any(np.diff(edges) <= 0.0):
        raise ValueError(f"particle_edges_GeV must be strictly increasing; got {edges}")
    return edges


def validate_alpha_ref(alpha_ref) -> float:
    """Return α_ref as a float; raise ValueError unless it is finite."""
    value = float(alpha_ref)
    if not np.isfinite(value):
        raise ValueError(f"alpha_ref must be a finite number; got {alpha_ref!r}")
    return value


def bin_centres_GeV(particle_edges_GeV) -> np.ndarray:
    """Geometric bin centres T_j = √(T_lo T_hi) [GeV]."""
    edges = validate_particle_edges(particle_edges_GeV)
    return np.sqrt(edges[:-1] * edges[1:])


def basis_functions(particle_edges_GeV, kinetic_energy_GeV, alpha_ref: float) -> np.ndarray:
    """Values φ_j(T) of all basis functions, shape (n_bins, len(T)) (dimensionless).

    φ_j(T) = (T/T_j)^(−α_ref) h_j(ln T); h_j is the hat in ln T on the centres, equal to 1 in the
    outer half bins of the first and last bins, zero outside the edges (module docstring).
    """
    edges = validate_particle_edges(particle_edges_GeV)
    alpha = validate_alpha_ref(alpha_ref)
    energy = np.atleast_1d(np.asarray(kinetic_energy_GeV, dtype=float))
    centres = np.sqrt(edges[:-1] * edges[1:])
    n_bins = centres.size
    log_energy = np.log(energy)
    log_centres = np.log(centres)
    inside = (energy >= edges[0]) & (energy <= edges[-1])
    values = np.empty((n_bins, energy.size))
    identity = np.eye(n_bins)
    for j in range(n_bins):
        # np.interp holds the end values outside the centres: that is the outer half-bin extension
        hat = np.interp(log_energy, log_centres, identity[j]) if n_bins > 1 else np.ones_like(energy)
        values[j] = np.where(inside, hat * (energy / centres[j]) ** (-alpha), 0.0)
    return values


def reconstruct_density(particle_edges_GeV, bin_values, kinetic_energy_GeV, alpha_ref: float) -> np.ndarray:
    """The continuous density n(T) = Σ_j n_j φ_j(T) (units of ``bin_values``); last axis = bins."""
    values = np.asarray(bin_values, dtype=float)
    return values @ basis_functions(particle_edges_GeV, kinetic_energy_GeV, alpha_ref)


def sample_at_centres(density_function, particle_edges_GeV) -> np.ndarray:
    """Bin values n_j = n(T_j) of a continuous density ``density_function(T_GeV)`` at the bin centres."""
    return np.asarray(density_function(bin_centres_GeV(particle_edges_GeV)), dtype=float)


def basis_quadrature(
    particle_edges_GeV, alpha_ref: float, nodes_per_segment: int = DEFAULT_NODES_PER_SEGMENT
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes T_k [GeV] and weights W_jk [GeV] with ∫ f(T) φ_j(T) dT ≈ Σ_k W_jk f(T_k).

    Gauss–Legendre in ln T on each segment between consecutive kinks of the basis (first edge,
    centres, last edge), so every φ_j is smooth on every segment.
    """
    if int(nodes_per_segment) != nodes_per_segment or nodes_per_segment < 2:
        raise ValueError(f"nodes_per_segment must be an integer ≥ 2; got {nodes_per_segment!r}")
    edges = validate_particle_edges(particle_edges_GeV)
    centres = np.sqrt(edges[:-1] * edges[1:])
    kinks = np.log(np.concatenate(([edges[0]], centres, [edges[-1]])))
    unit_nodes, unit_weights = np.polynomial.legendre.leggauss(int(nodes_per_segment))
    lower, upper = kinks[:-1, None], kinks[1:, None]
    half_width = 0.5 * (upper - lower)
    log_nodes = (lower + upper) / 2 + half_width * unit_nodes[None, :]
    log_weights = half_width * unit_weights[None, :]
    nodes = np.exp(log_nodes).ravel()
    weights = basis_functions(edges, nodes, alpha_ref) * (np.exp(log_nodes) * log_weights).ravel()[None, :]
    return nodes, weights
