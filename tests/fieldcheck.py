"""Shared checks for field models: central-difference Jacobians and their tolerance."""

import numpy as np


def central_difference_jacobian(field_at, pt, h):
    """J[i, j] = (B_j(x + h e_i) − B_j(x − h e_i)) / 2h for ``field_at(point) -> B`` (3 components)."""
    pt = np.asarray(pt, dtype=float)
    J = np.zeros((3, 3))
    for i in range(3):
        d = np.zeros(3)
        d[i] = h
        J[i] = (np.asarray(field_at(pt + d)) - np.asarray(field_at(pt - d))) / (2 * h)
    return J


def fd_tolerance(J, B, J_h, J_2h):
    """Tolerance for comparing an analytic J with the central difference at step h.

    The truncation error at h is ≈ |J_h − J_2h|/3 (O(h²) terms); allow 30× that, plus rounding
    ≈ ε|B|/h ~ 1e-10 |B| at h = 1e-5 kpc, with margin.
    """
    return 10 * np.abs(J_h - J_2h).max() + 1e-8 * (1 + np.abs(B).max() + np.abs(J).max())
