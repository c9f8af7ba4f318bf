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


def model_at(field_fn, p, pt):
    """(B, J) of a numba field function ``field_fn(p, x, y, z, r)`` at one point, J as (3, 3)."""
    x, y, z = (float(v) for v in pt)
    f = np.array(field_fn(p, x, y, z, float(np.hypot(x, y))))
    return f[:3], f[3:].reshape(3, 3)


def check_jacobian_against_fd(field_fn, p, points, skip, h=1e-5):
    """Assert the analytic J equals central differences (steps h and 2h give the tolerance,
    ``fd_tolerance``) at every point where ``skip(p, pt)`` is false; returns how many were checked."""
    n_checked = 0
    for pt in points:
        if skip(p, pt):
            continue
        B, J = model_at(field_fn, p, pt)
        J1 = central_difference_jacobian(lambda q: model_at(field_fn, p, q)[0], pt, h)
        J2 = central_difference_jacobian(lambda q: model_at(field_fn, p, q)[0], pt, 2 * h)
        np.testing.assert_allclose(J, J1, rtol=0, atol=fd_tolerance(J, B, J1, J2), err_msg=str(pt))
        n_checked += 1
    return n_checked
