"""Pixels and the rays that sample them: HEALPix (healpy) and plate-carrée (l, b) grids.

Directions are Galactic: d̂(l, b) = (cos b cos l, cos b sin l, sin b) in the Galactocentric frame of
docs/physics.md §0 (Sun on the −x axis, so +x points to l = 0° and +y to l = 90°, z to the north
Galactic pole).

Every pixel gets one ray through its centre that stands for a beam: a rectangle in the tangent plane
with unit vectors e_l, e_b and half-widths (h_l, h_b) of the pixel's extent (a HEALPix pixel as the
square of equal solid angle, h = √Ω/2; a plate-carrée pixel as Δl cos b × Δb).  The line-of-sight
kernel splits a beam into four once it is wider than the tally's cell over the oversampling factor
(los.integrate_rays), so that no cell is skipped at any distance while near the observer one ray
serves the whole pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import healpy as hp
import numpy as np


@dataclass
class RaySet:
    """Rays grouped by pixel (CSR: pixel p owns rays ``start[p]:start[p + 1]``) with their weights and
    beams (n_rays, 8): e_l (3), e_b (3), h_l, h_b [rad]; zero half-widths never split."""

    directions: np.ndarray
    start: np.ndarray
    weight: np.ndarray
    beam: np.ndarray | None = None

    def __post_init__(self):
        self.directions = np.ascontiguousarray(self.directions, dtype=float)
        if self.beam is None:
            self.beam = np.zeros((len(self.directions), 8))

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


def tangent_basis(l_deg, b_deg) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors toward increasing l and increasing b at (l, b), shape (…, 3) each."""
    l, b = np.radians(l_deg), np.radians(b_deg)
    e_l = np.stack(np.broadcast_arrays(-np.sin(l), np.cos(l), 0.0 * l), axis=-1)
    e_b = np.stack(np.broadcast_arrays(-np.sin(b) * np.cos(l), -np.sin(b) * np.sin(l), np.cos(b)), axis=-1)
    return e_l, e_b


def _beams(l_deg, b_deg, h_l, h_b) -> np.ndarray:
    e_l, e_b = tangent_basis(l_deg, b_deg)
    h_l, h_b = np.broadcast_arrays(np.asarray(h_l, float), np.asarray(h_b, float))
    return np.concatenate([e_l, e_b, h_l.reshape(-1, 1), h_b.reshape(-1, 1)], axis=1)


def healpix_rays(nside: int, pixels=None) -> RaySet:
    """One beam per RING-ordered HEALPix pixel of ``nside`` (``pixels``: a subset; default all)."""
    pixels = np.arange(hp.nside2npix(nside)) if pixels is None else np.asarray(pixels, dtype=np.int64)
    d = np.stack(hp.pix2vec(nside, pixels), axis=-1).reshape(-1, 3)
    l, b = galactic_lonlat(d)
    h = 0.5 * np.sqrt(hp.nside2pixarea(nside))
    beam = _beams(l, b, np.full(len(d), h), np.full(len(d), h))
    n = len(d)
    return RaySet(d, np.arange(n + 1, dtype=np.int64), np.ones(n), beam)


def car_edges(l_range_deg=(0.0, 360.0), b_range_deg=(-90.0, 90.0), pixel_deg=0.5):
    """Longitude and latitude edges [deg] of a plate-carrée grid (l increasing; sky maps usually draw
    it decreasing to the right)."""
    nl = max(1, int(round((l_range_deg[1] - l_range_deg[0]) / pixel_deg)))
    nb = max(1, int(round((b_range_deg[1] - b_range_deg[0]) / pixel_deg)))
    return np.linspace(*l_range_deg, nl + 1), np.linspace(*b_range_deg, nb + 1)


def car_rays(l_edges_deg, b_edges_deg) -> RaySet:
    """One beam per plate-carrée pixel, pixel order (l, b) C-order: the ray through the pixel's centre in
    l and sin b, the beam Δl cos b_c × Δb."""
    l_edges, b_edges = np.asarray(l_edges_deg, float), np.asarray(b_edges_deg, float)
    lc = 0.5 * (l_edges[1:] + l_edges[:-1])
    s = np.sin(np.radians(b_edges))
    bc = np.degrees(np.arcsin(0.5 * (s[1:] + s[:-1])))
    L, B = np.meshgrid(lc, bc, indexing="ij")
    DL, DB = np.meshgrid(np.radians(np.diff(l_edges)), np.radians(np.diff(b_edges)), indexing="ij")
    d = galactic_direction(L.ravel(), B.ravel())
    beam = _beams(L.ravel(), B.ravel(), 0.5 * DL.ravel() * np.cos(np.radians(B.ravel())), 0.5 * DB.ravel())
    n = len(d)
    return RaySet(d, np.arange(n + 1, dtype=np.int64), np.ones(n), beam)


def car_solid_angle_sr(l_edges_deg, b_edges_deg) -> np.ndarray:
    """Solid angle [sr] of each plate-carrée pixel, shape (n_l, n_b)."""
    dl = np.radians(np.diff(l_edges_deg))
    ds = np.diff(np.sin(np.radians(b_edges_deg)))
    return np.outer(dl, ds)
