"""Strength of the small-scale turbulent (random) magnetic field, δB_rms(x) [μG].

The coherent models give B(x); synchrotron losses need the total field energy density
(B² + δB²)/8π, and turbulence-dependent diffusion needs δB.  Models:

* ``none``: δB = 0.
* ``constant``: δB = rms_uG everywhere.
* ``jf12_random``: the random-field amplitude of Jansson & Farrar 2012b (ApJL 761 L11, eq. and
  table in sec. 2; values checked against CRPropa3 ``JF12Field::getTurbulentStrength``, see
  sdeprop.models.gmf_jf12.jf12_random_amplitude), variants ``jf12`` and ``planck`` (Planck
  Collaboration Int. XLII 2016).  JF12 frame: Sun at x = −8.5 kpc.

Each is scaled by ``scale``.  Evaluated inside numba code by ``turbulent_rms_uG``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .gmf_jf12 import jf12_random_amplitude, jf12_random_params

TURB_NONE = 0
TURB_CONSTANT = 1
TURB_JF12 = 2

# parameter layout: [scale, constant rms [μG], model parameters...]
_HEADER = 2


@njit(cache=True, error_model="numpy")
def turbulent_rms_uG(kind, p, x, y, z, r):
    """δB_rms [μG] at (x, y, z) [kpc], r = sqrt(x² + y²)."""
    if kind == TURB_CONSTANT:
        return p[0] * p[1]
    if kind == TURB_JF12:
        return p[0] * jf12_random_amplitude(p[_HEADER:], x, y, z, r)
    return 0.0


def build_turbulence(turb_cfg) -> tuple[int, np.ndarray]:
    """Turn the [turbulence] section into (kind, params)."""
    model = turb_cfg.model
    if model == "none":
        return TURB_NONE, np.zeros(_HEADER)
    if model == "constant":
        return TURB_CONSTANT, np.array([turb_cfg.scale, turb_cfg.rms_uG])
    if model == "jf12_random":
        body = jf12_random_params(turb_cfg.variant or "jf12", **dict(turb_cfg.overrides))
        return TURB_JF12, np.concatenate([[turb_cfg.scale, 0.0], body])
    raise ValueError(f"unknown turbulence model {model!r}")


@njit(cache=True)
def _many(kind, p, pts):
    out = np.empty(pts.shape[0])
    for n in range(pts.shape[0]):
        x, y, z = pts[n, 0], pts[n, 1], pts[n, 2]
        out[n] = turbulent_rms_uG(kind, p, x, y, z, math.sqrt(x * x + y * y))
    return out


def evaluate_turbulence(turb_cfg, points_kpc) -> np.ndarray:
    """δB_rms [μG] at each row of ``points_kpc`` (n, 3)."""
    kind, p = build_turbulence(turb_cfg)
    return _many(kind, p, np.atleast_2d(np.asarray(points_kpc, dtype=float)))
