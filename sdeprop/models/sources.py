"""Spatial source distributions and the injection-energy sampler.

Each source draws Galactocentric positions (kpc) with a numpy Generator; it runs in the
Python layer, vectorised, before a batch enters the kernel.  Any object with a
``sample_positions(rng, n) -> (x, y, z)`` method can serve as a source through the
Python API (``sdeprop.run(config, source=...)``), e.g. a manufactured-solution source.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# source densities for the kernel (the backward estimator evaluates the source along its paths):
# a code and a parameter array, read by ``source_density``
SOURCE_NONE = 0
SOURCE_DISK = 1  # (R_d, vertical profile code, z scale, H, 1/(π R_d²))
SOURCE_RADIAL_PROFILE = 2  # (a, b, R_sun, z0, R_cut, 1/∫f 2πR dR, H)
SOURCE_GAUSSIAN = 3  # (x0, y0, z0, σ, normalisation)
SOURCE_GRID_RZ = 4  # (n_R, n_z, R_lo, R_hi, z_lo, z_hi, normalisation, node values (R-major)...)
SOURCE_THIN_DISK = 5  # (R_d, 1/(π R_d²)): a surface density at z = 0, met through the local time at the plane
Z_GAUSSIAN = 0
Z_EXPONENTIAL = 1


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


def _z_pdf(z, profile, scale, H):
    """Normalised vertical density on |z| < H of the truncated profile [1/kpc]."""
    z = np.abs(np.asarray(z, dtype=float))
    if profile == "gaussian":
        norm = scale * math.sqrt(2.0 * math.pi) * math.erf(H / (scale * math.sqrt(2.0)))
        p = np.exp(-0.5 * (z / scale) ** 2) / norm
    elif profile == "exponential":
        p = np.exp(-z / scale) / (2.0 * scale * (1.0 - math.exp(-H / scale)))
    else:
        raise ValueError(f"no density for the '{profile}' vertical profile")
    return np.where(z < H, p, 0.0)


@njit(cache=True, inline="always", error_model="numpy")
def _z_density(z, profile, scale, H):
    """The kernel's copy of ``_z_pdf``: the truncated vertical profile on |z| < H [1/kpc]."""
    az = abs(z)
    if az >= H:
        return 0.0
    if profile == Z_GAUSSIAN:
        norm = scale * math.sqrt(2.0 * math.pi) * math.erf(H / (scale * math.sqrt(2.0)))
        return math.exp(-0.5 * (az / scale) ** 2) / norm
    return math.exp(-az / scale) / (2.0 * scale * (1.0 - math.exp(-H / scale)))


@njit(cache=True, error_model="numpy")
def source_density(kind, params, x, y, z, r):
    """Normalised source density [kpc⁻³] at (x, y, z), r = sqrt(x² + y²): the ``pdf`` of the source classes
    below, for the kernel."""
    if kind == SOURCE_DISK:
        if r >= params[0]:
            return 0.0
        return _z_density(z, int(params[1]), params[2], params[3]) * params[4]
    if kind == SOURCE_RADIAL_PROFILE:
        if r >= params[4]:
            return 0.0
        a, b, rs = params[0], params[1], params[2]
        f = (r / rs) ** a * math.exp(-b * (r - rs) / rs) if r > 0.0 else (1.0 if a == 0.0 else 0.0)
        return f * params[5] * _z_density(z, Z_EXPONENTIAL, params[3], params[6])
    if kind == SOURCE_GAUSSIAN:
        dx = x - params[0]
        dy = y - params[1]
        dz = z - params[2]
        s = params[3]
        return params[4] * math.exp(-0.5 * (dx * dx + dy * dy + dz * dz) / (s * s))
    if kind == SOURCE_GRID_RZ:
        nr = int(params[0])
        nz = int(params[1])
        fr = (r - params[2]) / (params[3] - params[2]) * (nr - 1)
        fz = (z - params[4]) / (params[5] - params[4]) * (nz - 1)
        if fr < 0.0 or fr > nr - 1 or fz < 0.0 or fz > nz - 1:
            return 0.0
        i = min(int(fr), nr - 2)
        j = min(int(fz), nz - 2)
        a = fr - i
        c = fz - j
        k0 = 7 + i * nz + j
        k1 = k0 + nz
        low = (1.0 - c) * params[k0] + c * params[k0 + 1]
        high = (1.0 - c) * params[k1] + c * params[k1 + 1]
        return params[6] * ((1.0 - a) * low + a * high)
    return 0.0


@njit(cache=True, inline="always", error_model="numpy")
def source_surface_density(kind, params, r):
    """Surface density [kpc⁻²] of a source that lies in the plane z = 0 (SOURCE_THIN_DISK), at radius r; 0
    for every other kind (their density is a volume density, ``source_density``)."""
    if kind == SOURCE_THIN_DISK and r < params[0]:
        return params[1]
    return 0.0


class DiskSource:
    """Uniform surface density for R < R_d; Gaussian, exponential or thin vertical profile."""

    def __init__(self, radius_kpc, z_profile, z_scale_kpc, halo_height_kpc):
        self.radius_kpc = radius_kpc
        self.z_profile = z_profile
        self.z_scale_kpc = z_scale_kpc
        self.halo_height_kpc = halo_height_kpc

    def pdf(self, x, y, z):
        """Normalised source density [kpc⁻³] (not for the thin profile)."""
        inside = np.hypot(x, y) < self.radius_kpc
        return np.where(
            inside,
            _z_pdf(z, self.z_profile, self.z_scale_kpc, self.halo_height_kpc) / (np.pi * self.radius_kpc**2),
            0.0,
        )

    def density_params(self):
        """(kind, parameters) of this density for the kernel (``source_density``)."""
        if self.z_profile == "thin":
            return SOURCE_THIN_DISK, np.array([self.radius_kpc, 1.0 / (np.pi * self.radius_kpc**2)])
        code = Z_GAUSSIAN if self.z_profile == "gaussian" else Z_EXPONENTIAL
        p = [
            self.radius_kpc,
            code,
            self.z_scale_kpc,
            self.halo_height_kpc,
            1.0 / (np.pi * self.radius_kpc**2),
        ]
        return SOURCE_DISK, np.array(p, dtype=float)

    def sample_positions(self, rng, n):
        r = self.radius_kpc * np.sqrt(rng.random(n))
        phi = rng.uniform(0.0, 2 * np.pi, n)
        z = _sample_z(rng, n, self.z_profile, self.z_scale_kpc, self.halo_height_kpc)
        return r * np.cos(phi), r * np.sin(phi), z


class RadialProfileSource:
    """Pulsar-like surface density f(R) = (R/R_sun)^a exp(−b (R − R_sun)/R_sun), exp(−|z|/z0).

    Lorimer et al. 2006 (MNRAS 372, 777) form with R₁ = 0 (docs/physics.md §4.1); defaults
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
        self._norm = 2.0 * np.pi * cdf[-1]  # ∫ f 2πR dR

    def pdf(self, x, y, z):
        """Normalised source density [kpc⁻³]."""
        R = np.hypot(x, y)
        f = np.where(R < self.R_cut_kpc, self.surface_density(R), 0.0) / self._norm
        return f * _z_pdf(z, "exponential", self.z0_kpc, self.halo_height_kpc)

    def density_params(self):
        """(kind, parameters) of this density for the kernel (``source_density``)."""
        p = [
            self.a,
            self.b,
            self.R_sun_kpc,
            self.z0_kpc,
            self.R_cut_kpc,
            1.0 / self._norm,
            self.halo_height_kpc,
        ]
        return SOURCE_RADIAL_PROFILE, np.array(p, dtype=float)

    def surface_density(self, R_kpc):
        """Unnormalised f(R)."""
        R = np.asarray(R_kpc, dtype=float)
        return (R / self.R_sun_kpc) ** self.a * np.exp(-self.b * (R - self.R_sun_kpc) / self.R_sun_kpc)

    def sample_positions(self, rng, n):
        r = np.interp(rng.random(n), self._cdf, self._r)
        phi = rng.uniform(0.0, 2 * np.pi, n)
        z = _sample_z(rng, n, "exponential", self.z0_kpc, self.halo_height_kpc)
        return r * np.cos(phi), r * np.sin(phi), z


class GaussianSource:
    """An isotropic Gaussian cloud of standard deviation σ about a point, truncated to the halo: a point
    source smoothed, whose Green's function in an unbounded medium is the point source's with the
    diffusion length² 4λ raised by 2σ² (docs/observer.md, the Syrovatskii check)."""

    def __init__(self, position_kpc, sigma_kpc, halo_height_kpc, radius_max_kpc):
        self.position_kpc = np.asarray(position_kpc, dtype=float)
        self.sigma_kpc = sigma_kpc
        self.H, self.Rmax = halo_height_kpc, radius_max_kpc
        # the part inside the halo (2e5 fixed draws; 1 to rounding when the cloud is far from the walls)
        _, inside = self._draw(np.random.default_rng(0), 200000)
        self.inside_fraction = float(inside.mean())

    def _draw(self, rng, n):
        p = self.position_kpc + self.sigma_kpc * rng.standard_normal((n, 3))
        return p, (np.abs(p[:, 2]) < self.H) & (np.hypot(p[:, 0], p[:, 1]) < self.Rmax)

    def pdf(self, x, y, z):
        """Normalised source density [kpc⁻³] (zero outside the halo)."""
        x, y, z = (np.asarray(a, dtype=float) for a in (x, y, z))
        d2 = (
            (x - self.position_kpc[0]) ** 2
            + (y - self.position_kpc[1]) ** 2
            + (z - self.position_kpc[2]) ** 2
        )
        inside = (np.abs(z) < self.H) & (np.hypot(x, y) < self.Rmax)
        return np.where(inside, self._norm() * np.exp(-0.5 * d2 / self.sigma_kpc**2), 0.0)

    def _norm(self):
        return 1.0 / ((2.0 * np.pi) ** 1.5 * self.sigma_kpc**3 * self.inside_fraction)

    def density_params(self):
        """(kind, parameters) of this density for the kernel (``source_density``)."""
        return SOURCE_GAUSSIAN, np.array([*self.position_kpc, self.sigma_kpc, self._norm()], dtype=float)

    def sample_positions(self, rng, n):
        out = np.empty((n, 3))
        todo = np.arange(n)
        while todo.size:
            p, ok = self._draw(rng, todo.size)
            out[todo[ok]] = p[ok]
            todo = todo[~ok]
        return out[:, 0], out[:, 1], out[:, 2]


class TabulatedRZSource:
    """An axisymmetric density given at the nodes of a uniform (R, z) grid, bilinear between them and zero
    outside; normalised here (the integral of the bilinear surface, exact).  Positions are drawn by
    rejection from the grid's cylinder, exactly from the bilinear density."""

    def __init__(self, R_nodes_kpc, z_nodes_kpc, values):
        R, z = np.asarray(R_nodes_kpc, dtype=float), np.asarray(z_nodes_kpc, dtype=float)
        v = np.asarray(values, dtype=float)
        if v.shape != (len(R), len(z)) or len(R) < 2 or len(z) < 2:
            raise ValueError(f"values must have shape (len(R), len(z)) with ≥ 2 nodes each, got {v.shape}")
        for name, a in (("R", R), ("z", z)):
            step = np.diff(a)
            if np.any(step <= 0) or not np.allclose(step, step[0], rtol=1e-9, atol=0):
                raise ValueError(f"the {name} nodes must be uniformly spaced and increasing")
        if R[0] < 0 or np.any(v < 0) or not np.all(np.isfinite(v)):
            raise ValueError("R ≥ 0 and finite, non-negative values are needed")
        self.R, self.z, self.values = R, z, v
        # ∫ρ dV = 2π Σ_cells ∫∫ bilinear · R dR dz: exact with 2 Gauss–Legendre nodes per direction
        x, w = np.polynomial.legendre.leggauss(2)
        hR, hz = R[1] - R[0], z[1] - z[0]
        total = 0.0
        for xa, wa in zip(x, w):
            a = 0.5 * (1 + xa)
            Rq = R[:-1] + a * hR
            for xc, wc in zip(x, w):
                c = 0.5 * (1 + xc)
                low = (1 - c) * v[:-1, :-1] + c * v[:-1, 1:]
                high = (1 - c) * v[1:, :-1] + c * v[1:, 1:]
                total += 0.25 * wa * wc * np.sum(((1 - a) * low + a * high) * Rq[:, None]) * hR * hz
        if total <= 0:
            raise ValueError("the tabulated density integrates to zero")
        self.norm = 1.0 / (2.0 * np.pi * total)
        self._max = float(v.max()) * self.norm

    def density_params(self):
        """(kind, parameters) of this density for the kernel (``source_density``)."""
        head = [len(self.R), len(self.z), self.R[0], self.R[-1], self.z[0], self.z[-1], self.norm]
        return SOURCE_GRID_RZ, np.concatenate([head, self.values.ravel()])

    def pdf(self, x, y, z):
        """Normalised source density [kpc⁻³] (the kernel's function, point by point)."""
        kind, p = self.density_params()
        x, y, z = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x, y, z)))
        r = np.hypot(x, y)
        points = zip(x.ravel(), y.ravel(), z.ravel(), r.ravel())
        return np.array([source_density(kind, p, *q) for q in points]).reshape(x.shape)

    def sample_positions(self, rng, n):
        out = np.empty((n, 3))
        todo = np.arange(n)
        r2lo, r2hi = self.R[0] ** 2, self.R[-1] ** 2
        while todo.size:
            m = todo.size
            r = np.sqrt(r2lo + (r2hi - r2lo) * rng.random(m))
            phi = rng.uniform(0.0, 2.0 * np.pi, m)
            zz = rng.uniform(self.z[0], self.z[-1], m)
            x, y = r * np.cos(phi), r * np.sin(phi)
            ok = rng.random(m) * self._max < self.pdf(x, y, zz)
            out[todo[ok]] = np.column_stack([x[ok], y[ok], zz[ok]])
            todo = todo[~ok]
        return out[:, 0], out[:, 1], out[:, 2]


class ObserverBiasedSource:
    """Importance sampling of a source toward an observer (for local spectra of short-lived e±).

    A fraction α of the positions is drawn around the observer, uniform in direction and in
    distance d < a (density g(x) = 1/(4π a d²)), the rest from the source f itself; every
    particle carries the weight w = f/((1 − α) f + α g) (the balance heuristic, Veach & Guibas
    1995), so that tallies stay unbiased for the source f while histories born within a of the
    observer, the only ones that reach it at TeV energies, become ~α/(1−α) × (volume ratio)
    times more numerous.
    """

    def __init__(self, base, center_kpc, radius_kpc, fraction, halo_height_kpc, radius_max_kpc):
        self.base, self.center, self.radius, self.fraction = (
            base,
            np.asarray(center_kpc, dtype=float),
            radius_kpc,
            fraction,
        )
        self.H, self.Rmax = halo_height_kpc, radius_max_kpc
        # fraction of the ball's distribution inside the halo (1e5 fixed draws), to renormalise g
        _, inside = self._ball_points(np.random.default_rng(0), 100000)
        self._inside_fraction = float(inside.mean())

    def _ball_points(self, rng, n):
        """n points uniform in direction and in distance d < a from the observer, and whether each
        lies inside the halo."""
        u = rng.normal(size=(n, 3))
        u /= np.linalg.norm(u, axis=1)[:, None]
        p = self.center + u * (self.radius * rng.random(n))[:, None]
        return p, (np.abs(p[:, 2]) < self.H) & (np.hypot(p[:, 0], p[:, 1]) < self.Rmax)

    def _ball_pdf(self, x, y, z):
        d = np.sqrt((x - self.center[0]) ** 2 + (y - self.center[1]) ** 2 + (z - self.center[2]) ** 2)
        with np.errstate(divide="ignore"):
            return np.where(
                d < self.radius, 1.0 / (4.0 * np.pi * self.radius * np.maximum(d, 1e-300) ** 2), 0.0
            )

    def density_params(self):
        """The density of the source itself (the bias only changes where forward particles start)."""
        return self.base.density_params()

    def sample_positions(self, rng, n):
        return self.sample_weighted(rng, n)[:3]

    def sample_weighted(self, rng, n):
        """Positions (kpc) and weights of n particles."""
        local = rng.random(n) < self.fraction
        x, y, z = (np.asarray(a, dtype=float).copy() for a in self.base.sample_positions(rng, n))
        todo = np.flatnonzero(local)
        while todo.size:  # the part of the ball outside the halo has f = 0: redraw (g is renormalised below)
            p, ok = self._ball_points(rng, todo.size)
            x[todo[ok]], y[todo[ok]], z[todo[ok]] = p[ok, 0], p[ok, 1], p[ok, 2]
            todo = todo[~ok]
        f = self.base.pdf(x, y, z)
        g = self._ball_pdf(x, y, z) / self._inside_fraction
        w = f / ((1.0 - self.fraction) * f + self.fraction * g)
        return x, y, z, w


def build_source(cfg):
    """The spatial source of a configuration (with its observer bias, if configured)."""
    s = cfg.source
    H = cfg.galaxy.halo_height_kpc
    if s.type == "point":
        return PointSource(s.position_kpc)
    if s.type == "disk":
        base = DiskSource(s.radius_kpc, s.z_profile, s.z_scale_kpc, H)
    elif s.type == "gaussian":
        base = GaussianSource(s.position_kpc, s.sigma_kpc, H, cfg.galaxy.radius_max_kpc)
    elif s.type == "radial_profile":
        rcut = s.R_cut_kpc if s.R_cut_kpc is not None else cfg.galaxy.radius_max_kpc
        base = RadialProfileSource(s.a, s.b, s.R_sun_kpc, s.z0_kpc, rcut, H)
    else:
        raise ValueError(f"unknown source type {s.type!r}")
    if s.observer_fraction > 0.0:
        center = s.observer_center_kpc if s.observer_center_kpc is not None else cfg.galaxy.sun_position_kpc
        return ObserverBiasedSource(
            base, center, s.observer_radius_kpc, s.observer_fraction, H, cfg.galaxy.radius_max_kpc
        )
    return base


class EnergySampler:
    """Injection kinetic energies: log-uniform (flat in ln E) or a power law E^-index.

    ``bin_probability(edges)`` gives the probability of each energy bin, which the
    reweighting needs (docs/design.md §4, generalised to any sampling density).
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
