"""Cylindrical helpers shared by the axisymmetric-frame field models (JF12, PT11, Cerri17)."""

from __future__ import annotations

from numba import njit

R_AXIS = 1e-9
"""kpc: PT11 and Cerri17 treat r <= R_AXIS as on the z axis (their 1/r terms are capped)."""


@njit(cache=True, inline="always", error_model="numpy")
def azimuth(x, y, r, r_axis, cos_on_axis):
    """(1/r, cos φ, sin φ) at (x, y) with r = sqrt(x² + y²) [kpc].

    For r <= r_axis the point is on the axis: 1/r = 0, sin φ = 0 and cos φ = cos_on_axis.  The
    models differ here on purpose, each matching its reference code: JF12 (CRPropa) uses
    r_axis = 0 and φ = 0 (cos φ = 1); PT11 and Cerri17 use r_axis = R_AXIS and cos φ = 0, which
    zeroes the horizontal components on the axis.
    """
    if r > r_axis:
        inv_r = 1.0 / r
        return inv_r, x * inv_r, y * inv_r
    return 0.0, cos_on_axis, 0.0
