"""``sdeprop crosscheck``: the SDE engine against the finite-difference grid solver on one configuration.

Both codes solve the same stationary problem (docs/design.md §2; loss-free here, losses below):

    ∇·(D∇ψ) + Q = 0,   ψ = 0 on |z| = H and R = R_max,   Q(x, E) = rate · p(x) · S(E)/∫S dE,

with p the normalised spatial source density [kpc⁻³] (``models.sources``), S the injection
spectrum dQ/dT (``spectra.spectrum_from_config``) normalised over [energy.min_GeV,
energy.max_GeV] exactly as the engine's reweighting does (spectra.py), and D = D⊥ I + (D∥ − D⊥) b̂b̂ᵀ
with the kernel's field floor.  The SDE adds the Itô drift ∇·D, so it samples the same
divergence-form operator; the grid solver (gridsolver/axisymmetric.py) discretises it directly.

What is compared.  The MC density of a cylindrical tally cell (ring R_a..R_b, z_a..z_b, energy
bin E_a..E_b) is the volume average of ψ over the ring and the average over the energy bin,
(1/ΔE) ∫ ψ dE.  The grid side reproduces exactly that:

* energy: ψ(x, E) = rate S(E)/∫S · G_E(x) with ∇·(D_E ∇G_E) + p = 0, integrated over each bin
  by Gauss–Legendre in ln E (``n_quad`` nodes; the integrand is smooth, so 4 nodes are exact
  to ≪ 1e-4 for power laws).  When D⊥ ∝ D∥ (diffusion.delta_perp unset) the tensor is D∥(E)
  times a fixed tensor and G_E = G_ref D∥(E_ref)/D∥(E): one factorisation per resolution;
  otherwise one solve per node.
* space: the source is averaged over each grid cell (sub-cell Gauss–Legendre), so a thin disk is
  not lost between cell centres; the grid ψ (piecewise constant per grid cell) is averaged over
  each tally ring with the exact ring-overlap volumes.
* discretisation error: two resolutions h_c > h_f; σ_grid = |ψ_f − ψ_c|/((h_c/h_f)^p − 1) with
  p = 2, or the measured order when three resolutions are given (below) (Richardson; the scheme
  is second order for smooth D and source — where the field or the source has a jump the order
  drops and σ_grid is optimistic).  The grid value compared is ψ_f.
* pulls (ψ_f − ψ_MC)/sqrt(σ_MC² + σ_grid²) over the cells where the MC is well measured
  (σ_MC/ψ_MC < ``max_relative_error``; cells hit by a handful of histories have a badly estimated,
  heavy-tailed error), χ² = Σ pull², dof = number of such cells, p-value from the χ² law.

Caveat on χ²: energy bins are independent (loss-free: each history lives in one bin), but cells
of one energy bin share histories, so their MC errors are positively correlated and the χ²
tail is heavier than the nominal law; the p-value is then somewhat optimistic about false
alarms (too small) — a low p warrants a look, not a verdict.

Energy losses (losses.model 'quadratic' or 'galactic').  Then ψ(E) is coupled across energies:
:func:`grid_density_losses` marches ∇·(D∇ψ) + ∂_E(bψ) + Q = 0 with ``gridsolver.energy.
march_energies`` (BDF2) from energy.max_GeV (ψ = 0; the source is cut there) down to the lowest
tally edge on :func:`fine_energies` (``energy_points_per_decade`` log-uniform nodes per decade,
every tally edge a node), Q_k = rate S(E_k)/∫S · (cell source), b on the cell centres
(``axisymmetric_loss_rate_from_config``), and (1/ΔE)∫ψ dE per tally bin by the trapezoid on the
bin's nodes.  σ_grid adds in quadrature the energy error |ψ_n − ψ_{n/2}|/3 (BDF2 is second order
in Δ ln E: measured on the electron test case, the bin averages at 24/48/96 nodes per decade are
off from 192 by ≤ 1.7/0.43/0.09 σ_MC).  With losses the energy bins share histories too.

Non-axisymmetric fields: the 3D Cartesian path (``solver`` 'auto' picks it when
:func:`field_is_axisymmetric` says no; '3d' forces it, e.g. to check it against the 2D path).
:func:`grid_density_3d` solves on the box [−R_max, R_max]² × [−H, H] (gridsolver/cartesian.py,
CG + Jacobi), z = 0 midway between two node layers.  The galaxy is the cylinder R < R_max: nodes
outside are pinned to ψ = 0, and every coupling of an inside node to a pinned one (axis and
corner) uses the ghost value that vanishes on the true wall (``cartesian.cylinder_dirichlet``).
A bare staircase wall would be first order; with the ghosts the wall error converges at about
second order in the r.m.s. (manufactured cylinder solution with a tilted, rotating field: ratios
3.5 per halving; the worst node 2.5).  The source is averaged over each node's dual cell; the
tally ring average (over azimuth too) is that of the trilinear interpolant, exact in z and by a
fine polar quadrature in (x, y).  Loss-free only (losses would need one 3D solve per energy node:
refused).  Default resolutions 0.8, 0.4, 0.2 kpc: with three resolutions σ_grid uses the
apparent order p = log(‖ψ₁ − ψ₂‖/‖ψ₂ − ψ₃‖)/log 2, clipped to [0.5, 2], not the nominal 2 — where
the field direction jumps (UF23's toroidal halo at z = 0; JF12's X-field kinks) or changes
faster than the grid resolves (UF23's spiral arms) the order drops (measured 0.74 for UF23's
disc + halo) and a p = 2 Richardson estimate would be optimistic.  Grids whose estimated
memory (``BYTES_PER_NODE_3D`` per node) exceeds run.memory_budget_GiB are refused.

Transport terms (docs/transport.md, "The grid solvers").  D that varies in space (``[diffusion]
spatial``) and catastrophic losses enter every path (the factors f∥, f⊥ on the faces, −ν on the
diagonal; one solve per quadrature node instead of the G ∝ 1/D∥ shortcut).  A wind adds the upwinded
−∇·(uψ) and its adiabatic loss (p v/3) ∇·u to b, so it takes the energy march of
:func:`grid_density_losses` even without other losses.  Reacceleration takes
:func:`grid_density_coupled`: one (E, x) block system (``gridsolver.energy.solve_coupled``) from a decade
below to a decade above the tally and injection range, zero flux in p at both ends, 24 nodes per decade
by default; σ_grid adds |ψ_n − ψ_{n/2}|/(2^p − 1) with p = 2, or p = 1 when a loss drift (upwinded) is
present.  A wind or reacceleration on the 3D path is refused.

Limits (refused with a message): energy losses, a wind or reacceleration on the 3D path, point or
thin-disk sources (no grid density), reflecting boundaries, drift switched off, [[components]].

Modules: :mod:`.problem` (what is compared and the grid problem built from the configuration:
checks, tally, source, field, injection spectrum, grids and resolutions), :mod:`.grid` (the grid
solves and their averages over the tally cells), :mod:`.compare` (the SDE run, Richardson errors,
pulls, χ²: :func:`crosscheck`), :mod:`.report` (:class:`CrosscheckReport`, report.md,
summary.json, crosscheck.npz); the figures are drawn by :mod:`sdeprop.plotting.crosscheck`.
"""

from .compare import apparent_order, crosscheck, grid_answer, pulls
from .grid import grid_density, grid_density_3d, grid_density_coupled, grid_density_losses
from .problem import (
    BYTES_PER_NODE_3D,
    DEFAULT_RESOLUTIONS,
    DEFAULT_TALLY,
    SOLVERS,
    cartesian_grid_for,
    choose_solver,
    field_is_axisymmetric,
    fine_energies,
    grid_memory_3d_GiB,
)
from .report import CrosscheckReport, write_report

__all__ = [
    "BYTES_PER_NODE_3D",
    "DEFAULT_RESOLUTIONS",
    "DEFAULT_TALLY",
    "SOLVERS",
    "CrosscheckReport",
    "apparent_order",
    "cartesian_grid_for",
    "choose_solver",
    "crosscheck",
    "field_is_axisymmetric",
    "fine_energies",
    "grid_answer",
    "grid_density",
    "grid_density_3d",
    "grid_density_coupled",
    "grid_density_losses",
    "grid_memory_3d_GiB",
    "pulls",
    "write_report",
]
