"""The @njit transport kernel: integration of the Itô SDE (Euler–Maruyama or the field-line step) over
plain arrays.

    records.py     the interface: Particles, RandomBuffers, Physics, Numerics, Scoring (NamedTuples)
                   and the integer codes (particle status, counters, step rules)
    particle_loop.py  the particle loop: ``transport`` and ``follow_particles``
    step.py        the pieces of one step: local frame (noise, drift ∇·D), step size, energy update
    plane.py       the near-plane step for tensors that jump or have a cusp at z = 0
    boundaries.py  free escape with the Brownian bridge, or reflecting walls

The kernel imports only the models (field, diffusion, losses), the tally scoring functions and
the units; it knows nothing of the configuration, I/O or the command line.
"""

from .particle_loop import transport
from .records import (
                      ABOVE_EMAX,
                      ALIVE,
                      AT_TMAX,
                      BELOW_EMIN,
                      C_BRIDGE_ESCAPES,
                      C_NTOUCHED,
                      C_STEPS,
                      ESCAPED_R,
                      ESCAPED_Z,
                      INTEGRATOR_EM,
                      INTEGRATOR_FIELD_LINE,
                      INTEGRATOR_FIELD_LINE_RK2,
                      MAX_STEPS,
                      N_COUNTERS,
                      N_STATUS,
                      NORMALS_PER_STEP,
                      REFINE_MAX_DEPTH,
                      STEP_DIRECTION,
                      STEP_GRADIENT,
                      UNIFORMS_PER_STEP,
                      Numerics,
                      Particles,
                      Physics,
                      RandomBuffers,
                      Scoring,
                      normals_per_step,
                      uniforms_per_step,
)

__all__ = [
    "ABOVE_EMAX", "ALIVE", "AT_TMAX",
    "BELOW_EMIN", "C_BRIDGE_ESCAPES", "C_NTOUCHED", "C_STEPS", "ESCAPED_R", "ESCAPED_Z",
    "INTEGRATOR_EM", "INTEGRATOR_FIELD_LINE", "INTEGRATOR_FIELD_LINE_RK2",
    "MAX_STEPS", "N_COUNTERS", "N_STATUS", "NORMALS_PER_STEP", "REFINE_MAX_DEPTH", "STEP_DIRECTION",
    "STEP_GRADIENT",
    "UNIFORMS_PER_STEP", "Numerics", "Particles", "Physics", "RandomBuffers", "Scoring", "normals_per_step",
    "transport", "uniforms_per_step",
]
