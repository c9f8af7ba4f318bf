"""Pixels and the rays that sample them: HEALPix (healpy) and plate-carrée (l, b) grids.

Directions are Galactic: d̂(l, b) = (cos b cos l, cos b sin l, sin b) in the Galactocentric frame of
docs/physics.md §0 (Sun on the −x axis, so +x points to l = 0° and +y to l = 90°, z to the north
Galactic pole).

A pixel is sampled by several rays so that no ray skips a tally cell: neighbouring rays of one pixel
lie at most ``cell / oversampling`` apart at the far end of the pixel's longest ray.  For HEALPix the
sub-rays are the centres of the pixel's NESTED children at nside·2^k; for plate-carrée maps an
n × n grid uniform in l and sin b (equal solid angle per sub-ray).  Each ray carries the weight
1/(rays of its pixel), so a pixel value is the mean intensity over the pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import healpy as hp
import numpy as np

MAX_SUBSAMPLING_LEVEL = 5
"""At most 4⁵ = 1024 sub-rays per HEALPix pixel (32 × 32 per plate-carrée pixel)."""


@dataclass
class RaySet:
    """Rays grouped by pixel (CSR: pixel p owns rays ``start[p]:start[p + 1]``)."""

    directions: np.ndarray
    start: np.ndarray
    weight: np.ndarray

    @property
    def n_pixels(self) -> int:
        return len(self.start) - 1


def galactic_direction(l_deg, b_deg) -> np.ndarray:
    """Unit vectors (…, 3) toward Galactic longitude l and latitude b [deg]."""
    l, b = np.radians(l_deg), np.radians(b_deg)
    return np.stack(np.broadcast_arrays(np.cos(b) * np.cos(l), np.cos(b) * np.sin(l), np.sin(b)), axis=-1)


def galactic_lonlat(directions) -> tuple[np.ndarray, np.ndarray]:
    """(l in [0, 360), b) [deg] of unit vectors (…, 3)."""
    d = np.asarray(directions, dtype=float)
    l = np.degrees(np.arctan2(d[..., 1], d[..., 0])) % 360.0
    b = np.degrees(np.arcsin(np.clip(d[..., 2], -1.0, 1.0)))
    return l, b


def subsampling_level(pixel_size_rad: np.ndarray, far_distance_kpc: np.ndarray, cell_kpc: float, oversampling):
    """The smallest k ≥ 0 with pixel_size·far/2^k ≤ cell/oversampling, capped at MAX_SUBSAMPLING_LEVEL."""
    spacing = np.asarray(pixel_size_rad) * np.asarray(far_distance_kpc)
    need = np.log2(np.maximum(spacing * oversampling / cell_kpc, 1.0))
    return np.minimum(np.ceil(need - 1e-9).astype(int), MAX_SUBSAMPLING_LEVEL)


def _csr(levels_per_pixel: np.ndarray, directions_by_pixel) -> RaySet:
    counts = np.array([len(d) for d in directions_by_pixel], dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(counts)])
    dirs = np.concatenate(directions_by_pixel, axis=0) if len(directions_by_pixel) else np.zeros((0, 3))
    weight = np.repeat(1.0 / counts, counts)
    return RaySet(np.ascontiguousarray(dirs), start, weight)


def healpix_rays(nside: int, levels, pixels=None) -> RaySet:
    """Rays of the RING-ordered HEALPix pixels ``pixels`` (default: all) of ``nside``: the pixel centre
    (level 0) or the centres of its 4^k NESTED children at nside·2^k (level k, one per pixel)."""
    pixels = np.arange(hp.nside2npix(nside)) if pixels is None else np.asarray(pixels, dtype=np.int64)
    levels = np.broadcast_to(np.asarray(levels, dtype=int), pixels.shape)
    nest = hp.ring2nest(nside, pixels)
    counts = 4**levels
    start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    dirs = np.empty((int(start[-1]), 3))
    for k in np.unique(levels):
        sel = np.nonzero(levels == k)[0]
        n_sub = 4**k
        children = (nest[sel, None] * n_sub + np.arange(n_sub)[None, :]).ravel()
        v = np.stack(hp.pix2vec(nside * 2**k, children, nest=True), axis=-1)
        rows = (start[sel, None] + np.arange(n_sub)[None, :]).ravel()
        dirs[rows] = v
    weight = np.repeat(1.0 / counts, counts)
    return RaySet(dirs, start, weight)


def car_edges(l_range_deg=(0.0, 360.0), b_range_deg=(-90.0, 90.0), pixel_deg=0.5):
    """Longitude and latitude edges [deg] of a plate-carrée grid (l increasing; sky maps usually draw
    it decreasing to the right)."""
    nl = max(1, int(round((l_range_deg[1] - l_range_deg[0]) / pixel_deg)))
    nb = max(1, int(round((b_range_deg[1] - b_range_deg[0]) / pixel_deg)))
    return np.linspace(*l_range_deg, nl + 1), np.linspace(*b_range_deg, nb + 1)


def car_rays(l_edges_deg, b_edges_deg, levels: np.ndarray) -> RaySet:
    """Rays of a plate-carrée grid, pixel order (l, b) C-order: n × n sub-rays with n = 2^level, uniform
    in l and in sin b inside each pixel."""
    l_edges, b_edges = np.asarray(l_edges_deg, float), np.asarray(b_edges_deg, float)
    nl, nb = len(l_edges) - 1, len(b_edges) - 1
    levels = np.broadcast_to(np.asarray(levels, dtype=int), (nl * nb,)).reshape(nl, nb)
    by_pixel = []
    for i in range(nl):
        for j in range(nb):
            n = 2 ** levels[i, j]
            fl = (np.arange(n) + 0.5) / n
            l = l_edges[i] + fl * (l_edges[i + 1] - l_edges[i])
            s0, s1 = np.sin(np.radians(b_edges[j])), np.sin(np.radians(b_edges[j + 1]))
            b = np.degrees(np.arcsin(s0 + fl * (s1 - s0)))
            L, B = np.meshgrid(l, b, indexing="ij")
            by_pixel.append(galactic_direction(L.ravel(), B.ravel()))
    return _csr(levels.ravel(), by_pixel)


def car_solid_angle_sr(l_edges_deg, b_edges_deg) -> np.ndarray:
    """Solid angle [sr] of each plate-carrée pixel, shape (n_l, n_b)."""
    dl = np.radians(np.diff(l_edges_deg))
    ds = np.diff(np.sin(np.radians(b_edges_deg)))
    return np.outer(dl, ds)
