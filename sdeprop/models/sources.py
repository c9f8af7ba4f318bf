"""Spatial source distributions and the injection-energy sampler.

Each source draws Galactocentric positions (kpc) with a numpy Generator; it runs in the
Python layer, vectorised, before a batch enters the kernel.  Any object with a
``sample_positions(rng, n) -> (x, y, z)`` method can serve as a source through the
Python API (``sdeprop.run(config, source=...)``), e.g. a manufactured-solution source.
"""

from __future__ import annotations

import numpy as np


class PointSource:
    """All particles start at one point."""

    def __init__(self, position_kpc):
        self.position_kpc = np.asarray(position_kpc, dtype=float)

    def sample_positions(self, rng, n):
        return tuple(np.full(n, c) for c in self.position_kpc)


def _sample_z(rng, n, profile, scale, H):
    """Vertical profile truncated to |z| < H (rejection of the rare tails)."""
    if profile == "thin":
        return np.zeros(n)
    z = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        if profile == "gaussian":
            draw = rng.normal(0.0, scale, todo.size)
        else:
            draw = rng.laplace(0.0, scale, todo.size)
        ok = np.abs(draw) < H
        z[todo[ok]] = draw[ok]
        todo = todo[~ok]
    return z


class DiskSource:
    """Uniform surface density for R < R_d; Gaussian, exponential or thin vertical profile."""

    def __init__(self, radius_kpc, z_profile, z_scale_kpc, halo_height_kpc):
        self.radius_kpc = radius_kpc
        self.z_profile = z_profile
        self.z_scale_kpc = z_scale_kpc
        self.halo_height_kpc = halo_height_kpc

    def sample_positions(self, rng, n):
        r = self.radius_kpc * np.sqrt(rng.random(n))
        phi = rng.uniform(0.0, 2 * np.pi, n)
        z = _sample_z(rng, n, self.z_profile, self.z_scale_kpc, self.halo_height_kpc)
        return r * np.cos(phi), r * np.sin(phi), z


class RadialProfileSource:
    """Pulsar-like surface density f(R) = (R/R_sun)^a exp(−b (R − R_sun)/R_sun), exp(−|z|/z0).

    Lorimer et al. 2006 (MNRAS 372, 777) form with R₁ = 0 (PHYSICS.md §4.1); defaults
    a = 1.9, b = 5, R_sun = 8.3 kpc, z0 = 0.2 kpc as in DRAGON's `Lorimer` option.  R is
    drawn from R f(R) on [0, R_cut] by inverting a tabulated CDF (4096 nodes, linear).
    """

    def __init__(self, a, b, R_sun_kpc, z0_kpc, R_cut_kpc, halo_height_kpc):
        self.a, self.b, self.R_sun_kpc, self.z0_kpc = a, b, R_sun_kpc, z0_kpc
        self.R_cut_kpc = R_cut_kpc
        self.halo_height_kpc = halo_height_kpc
        r = np.linspace(0.0, R_cut_kpc, 4097)
        pdf = r * self.surface_density(r)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(r))])
        self._r, self._cdf = r, cdf / cdf[-1]

    def surface_density(self, R_kpc):
        """Unnormalised f(R)."""
        R = np.asarray(R_kpc, dtype=float)
        return (R / self.R_sun_kpc) ** self.a * np.exp(-self.b * (R - self.R_sun_kpc) / self.R_sun_kpc)

    def sample_positions(self, rng, n):
        r = np.interp(rng.random(n), self._cdf, self._r)
        phi = rng.uniform(0.0, 2 * np.pi, n)
        z = _sample_z(rng, n, "exponential", self.z0_kpc, self.halo_height_kpc)
        return r * np.cos(phi), r * np.sin(phi), z


def build_source(cfg):
    """The spatial source of a configuration."""
    s = cfg.source
    H = cfg.galaxy.halo_height_kpc
    if s.type == "point":
        return PointSource(s.position_kpc)
    if s.type == "disk":
        return DiskSource(s.radius_kpc, s.z_profile, s.z_scale_kpc, H)
    if s.type == "radial_profile":
        rcut = s.R_cut_kpc if s.R_cut_kpc is not None else cfg.galaxy.radius_max_kpc
        return RadialProfileSource(s.a, s.b, s.R_sun_kpc, s.z0_kpc, rcut, H)
    raise ValueError(f"unknown source type {s.type!r}")


class EnergySampler:
    """Injection kinetic energies: log-uniform (flat in ln E) or a power law E^-index.

    ``bin_probability(edges)`` gives the probability of each energy bin, which the
    reweighting needs (DESIGN.md §4, generalised to any sampling density).
    """

    def __init__(self, emin_GeV, emax_GeV, kind="log_uniform", index=2.0):
        self.emin, self.emax, self.kind, self.index = emin_GeV, emax_GeV, kind, index

    def _cdf(self, e):
        e = np.clip(np.asarray(e, dtype=float), self.emin, self.emax)
        if self.kind == "log_uniform" or abs(self.index - 1.0) < 1e-12:
            return np.log(e / self.emin) / np.log(self.emax / self.emin)
        g = 1.0 - self.index
        return (e**g - self.emin**g) / (self.emax**g - self.emin**g)

    def sample(self, rng, n):
        u = rng.random(n)
        if self.kind == "log_uniform" or abs(self.index - 1.0) < 1e-12:
            return self.emin * (self.emax / self.emin) ** u
        g = 1.0 - self.index
        return (self.emin**g + u * (self.emax**g - self.emin**g)) ** (1.0 / g)

    def pdf(self, energy_GeV):
        """Sampling density g(E) [1/GeV] (zero outside [E_min, E_max])."""
        e = np.asarray(energy_GeV, dtype=float)
        inside = (e >= self.emin) & (e <= self.emax)
        if self.kind == "log_uniform" or abs(self.index - 1.0) < 1e-12:
            g = 1.0 / (e * np.log(self.emax / self.emin))
        else:
            a = 1.0 - self.index
            g = a * e ** (-self.index) / (self.emax**a - self.emin**a)
        return np.where(inside, g, 0.0)

    def bin_probability(self, edges_GeV):
        c = self._cdf(edges_GeV)
        return np.diff(c)
