"""The kernel's interface: named records of plain arrays and scalars, and its integer codes.

The engine builds one record of each kind per batch (``engine.build_model`` / ``run_batch``)
and passes them to :func:`sdeprop.kernel.transport.transport`.  numba treats a NamedTuple as
a typed tuple: fields are read by name at no cost, arrays inside are shared, not copied.

* :class:`Particles`: the state of every pseudo-particle of a batch, one array per field;
* :class:`RandomBuffers`: pre-drawn standard normal and uniform variates;
* :class:`Physics`: the species and the model tables (field, diffusion, losses);
* :class:`Numerics`: the halo, the step control and the switches of the algorithm;
* :class:`Scoring`: the estimator, the tally tables and the arrays the kernel fills.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# particle status (Particles.status)
ALIVE = 0
ESCAPED_Z = 1
ESCAPED_R = 2
AT_TMAX = 3
BELOW_EMIN = 4
MAX_STEPS = 5
ABOVE_EMAX = 6  # backward paths: the energy rose above the source range
N_STATUS = 7

# counters (Scoring.counters)
C_STEPS = 0
C_NTOUCHED = 1
C_BRIDGE_ESCAPES = 2
N_COUNTERS = 4

# step rules (time.step_control)
STEP_DIRECTION = 0  # expected change of the field direction b over a step, |Δb|² = 2 dt tr(Gᵀ D G)
STEP_GRADIENT = 1   # parallel displacement against the scale length |B|/‖∇B‖ (docs/design.md §2)

# integrators (numerics.integrator; docs/numerics.md "Field-line step")
INTEGRATOR_EM = 0           # Euler–Maruyama: σ = s⊥ I + c b bᵀ, drift ∇·D
INTEGRATOR_FIELD_LINE = 1   # isotropic Gaussian + arc traced along the line by RK4, drift (D∥ − D⊥) b ∇·b
INTEGRATOR_FIELD_LINE_RK2 = 2  # the same with the midpoint rule (kept for the accuracy comparison)

#: uniform variates a step may use (three bridge walls, and whether and to which side it crossed
#: z = 0); the caller refills the buffer when fewer are left
UNIFORMS_PER_STEP = 5
#: more uniform variates a step may use with a jump of D at |z| = ξL (touched, side) and with a wind
#: (the time spent at the plane)
UNIFORMS_INTERFACE = 2
UNIFORMS_WIND = 2
#: backward paths from a source in the plane (a thin disc): the local time at z = 0 takes one more
UNIFORMS_THIN_SOURCE = 1
#: parameters of an absent model
_NO_PARAMS = np.zeros(1)
_NO_INDEX = np.zeros(1, dtype=np.int64)
_NO_TABLE = np.zeros((1, 3))
#: normal variates a step uses (the field-line step one more: the arc length)
NORMALS_PER_STEP = 3
#: most halvings of one step by the step refinement (numerics.step_refinement)
REFINE_MAX_DEPTH = 10


def normals_per_step(integrator: int, refinement: float = 0.0, reacceleration: bool = False,
                     spatial: bool = False) -> int:
    """Normal variates one step of ``integrator`` may use (with step refinement, which a D varying in
    space always has: all its halvings; with reacceleration one more for the momentum)."""
    n = NORMALS_PER_STEP + (1 if integrator != INTEGRATOR_EM else 0) + (1 if reacceleration else 0)
    return n * (1 + REFINE_MAX_DEPTH) if (refinement > 0.0 or spatial) else n


def uniforms_per_step(interface: bool = False, wind: bool = False, thin_source: bool = False) -> int:
    """Uniform variates one step may use (with a jump of D at |z| = ξL, with a wind and for backward paths
    from a thin disc: more)."""
    return (UNIFORMS_PER_STEP + (UNIFORMS_INTERFACE if interface else 0) + (UNIFORMS_WIND if wind else 0)
            + (UNIFORMS_THIN_SOURCE if thin_source else 0))


class Particles(NamedTuple):
    """State of the pseudo-particles of one batch (arrays of equal length)."""

    x: np.ndarray                  #: position [kpc], Galactocentric Cartesian
    y: np.ndarray
    z: np.ndarray
    energy: np.ndarray             #: kinetic energy E [GeV]
    source_energy: np.ndarray      #: kinetic energy at injection E0 [GeV]
    weight: np.ndarray             #: statistical weight
    time: np.ndarray               #: time since injection [Myr]
    status: np.ndarray             #: int64, ALIVE or why the particle stopped
    next_snapshot: np.ndarray      #: int64, index k of the next steady-state snapshot (k + ½) Δt
    next_output: np.ndarray        #: int64, index of the next burst output time
    steps: np.ndarray              #: int64, steps taken so far
    pending_residence: np.ndarray  #: residence time still to score at the current point [Myr]
    t_max: np.ndarray              #: time after which the particle is no longer followed [Myr]
    snapshot_dt: np.ndarray        #: snapshot cadence Δt [Myr]
    observer_index: np.ndarray = _NO_INDEX  #: int64, backward paths: which observer energy the path serves


class RandomBuffers(NamedTuple):
    """Pre-drawn variates; the kernel returns when fewer than one step's worth are left."""

    normals: np.ndarray   #: standard normal variates
    uniforms: np.ndarray  #: uniform variates on [0, 1)
    #: step refinement: the halves still to be taken, (dt, 4 Brownian increments) per row, and
    #: their count in refinement_depth[0]; kept here so that a return for a refill resumes them
    refinement_stack: np.ndarray
    refinement_depth: np.ndarray


class Physics(NamedTuple):
    """The species and the model tables, each model selected by an integer code."""

    mass_GeV: float             #: rest mass of the species [GeV]
    charge: float               #: charge number
    field_kind: int             #: models.field.FIELD_* code
    field_params: np.ndarray    #: the field model's parameters (models.field)
    field_grid: np.ndarray      #: precomputed field and Jacobian on a grid (empty when evaluated directly)
    field_floor_uG: float       #: B_f in b = B/sqrt(|B|² + B_f²) [μG]
    diffusion_kind: int         #: models.diffusion code
    diffusion_params: np.ndarray
    loss_kind: int              #: models.losses.LOSS_* code
    loss_params: np.ndarray
    spatial_kind: int = 0       #: models.spatial_diffusion.SPATIAL_* code (0: D uniform in space)
    spatial_params: np.ndarray = _NO_PARAMS
    wind_v0_kpc_per_myr: float = 0.0      #: wind speed at the plane (models.advection)
    wind_gradient_per_myr: float = 0.0    #: dv/dz of the wind
    alfven_speed_kpc_per_myr: float = 0.0  #: v_A of reacceleration (0: off; models.reacceleration)
    reacceleration_index: float = 0.0     #: δ of D_pp (0: the local index of D∥)
    catastrophic_kind: int = 0            #: models.catastrophic code (0: none)
    catastrophic_params: np.ndarray = _NO_PARAMS


class Numerics(NamedTuple):
    """Boundaries, step control and algorithm switches."""

    halo_height_kpc: float              #: H: free escape (or reflection) at |z| = H
    radius_max_kpc: float               #: R_max: free escape (or reflection) at R = R_max
    reflect: bool                       #: reflecting walls instead of free escape
    dt_max_Myr: float                   #: largest step
    step_fraction: float                #: accuracy of a step (docs/numerics.md "Step control")
    step_rule: int                      #: STEP_DIRECTION or STEP_GRADIENT
    geometric_length_kpc: float         #: min(H, R_max, max_step/step_fraction): sqrt(2 D∥ dt) <= sf × this
    min_step_kpc: float                 #: floor of the parallel displacement the field rule may ask for
    min_step_mean_free_paths: float     #: the same floor in scattering mean free paths λ∥
    loss_fraction: float                #: dt <= loss_fraction × E/b
    energy_floor_GeV: float             #: particles below it stop (0 without losses)
    diffusion_energy_tolerance: float   #: D(E) is re-evaluated when ln E has fallen by this much
    drift: bool                         #: include the drift ∇·D
    brownian_bridge: bool               #: Brownian-bridge escape test within a step
    plane_mode: int                     #: models.field.PLANE_*: what the plane z = 0 holds for the tensor
    max_steps: int                      #: steps after which a particle is stopped
    integrator: int = INTEGRATOR_EM     #: INTEGRATOR_*: Euler–Maruyama or the field-line step
    refinement: float = 0.0             #: step refinement factor (0: off; numerics.step_refinement)
    backward: bool = False              #: adjoint paths from an observer (docs/observer.md): E rises along b
    energy_ceiling_GeV: float = float("inf")  #: backward paths stop above it (the source range's top)
    shared_paths: bool = False          #: backward: each path serves every observer energy (observer_table)


class Scoring(NamedTuple):
    """What the kernel scores into (tallies.py for the layout), and its counters."""

    snapshot: bool               #: burst-snapshot estimator (else residence time)
    output_times: np.ndarray     #: burst output times [Myr] (snapshot estimator)
    tally_ints: np.ndarray       #: tallies.tally_tables integer table
    tally_floats: np.ndarray     #: tallies.tally_tables float table
    sums: np.ndarray             #: (cells, N_MOMENTS) per-history moments
    scratch: np.ndarray          #: the current history's contributions per cell
    stamp: np.ndarray            #: last history that touched a cell
    touched: np.ndarray          #: cells the current history touched
    source_position: np.ndarray  #: per tally, position of E0 inside its source-energy bin
    source_weight: np.ndarray    #: per tally, the history's spectrum weight (folded tallies; else 1)
    fold_weights: np.ndarray     #: (rows, 2) in-bin weights a_j, b_j of the folded tallies
    energy_cells: np.ndarray     #: per tally, the current energy cell
    counters: np.ndarray         #: int64 [N_COUNTERS]
    status_counts: np.ndarray    #: int64 [N_STATUS], particles by final status
    source_kind: int = 0         #: models.sources.SOURCE_* (backward estimator: the density along paths)
    source_params: np.ndarray = _NO_PARAMS
    observer_table: np.ndarray = _NO_TABLE  #: shared backward paths: (K, 3) rows, factors, v (tallies)
