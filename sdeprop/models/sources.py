"""Spatial source distributions and the injection-energy sampler.

Each source draws Galactocentric positions (kpc) with a numpy Generator; it runs in the
Python layer, vectorised, before a batch enters the kernel.  Any object with a
``sample_positions(rng, n) -> (x, y, z)`` method can serve as a source through the
Python API (``sdeprop.run(config, source=...)``), e.g. a manufactured-solution source.

Every source but the point also has ``pdf(x, y, z)``, its normalised density [kpc⁻³] in numpy, and
``density_params()``, a ``SOURCE_*`` code and parameter array from which the numba ``source_density``
evaluates the same density in the kernel; the samplers draw exactly from it (docs/sources.md: the disc,
the radial profile, the Gaussian cloud, the spiral arms of Faucher-Giguère & Kaspi 2006 and
Steiman-Cameron et al. 2010, the supernova rates of Ferrière 2001, and densities tabulated on grids, whose
files ``sdeprop.io`` reads).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy import integrate, optimize, special

from .gas3d import (
    N_ARMS,
    SPIRAL_ARMS,
    SPIRAL_BASE,
    SPIRAL_ROTATION,
    SPIRAL_WIDTH_RAD,
    STEIMAN_CAMERON_ARMS,
    STEIMAN_CAMERON_WIDTH_DEG,
    arm_azimuthal_profile,
    arm_centre_azimuth,
    arm_profile_mean,
    arm_radial_offset_kpc,
    spiral_params,
    spiral_ramp,
    uniform_axis_params,
    wrap_angle,
)

# source densities for the kernel (the backward estimator evaluates the source along its paths):
# a code and a parameter array, read by ``source_density``
SOURCE_NONE = 0
SOURCE_DISK = 1  # (R_d, vertical profile code, z scale, H, 1/(π R_d²))
SOURCE_RADIAL_PROFILE = 2  # (a, b, R_sun, z0, R_cut, 1/∫f 2πR dR, H)
SOURCE_GAUSSIAN = 3  # (x0, y0, z0, σ, normalisation)
SOURCE_GRID_RZ = 4  # (n_R, n_z, R_lo, R_hi, z_lo, z_hi, normalisation, node values (R-major)...)
SOURCE_THIN_DISK = 5  # (R_d, 1/(π R_d²)): a surface density at z = 0, met through the local time at the plane
SOURCE_SPIRAL_FGK = 6  # SPIRAL_HEAD ... then blur (L, c_lo, c_hi, n) and per arm (k, r0, φ0, σ_φ, weight)
SOURCE_SPIRAL_SC10 = 7  # SPIRAL_HEAD ... then the arm parameters of models.gas3d.spiral_params
SOURCE_SNR = 8  # (R_cut, H, R_sun, c_Ia, c_CC)
SOURCE_GRID_XYZ = 9  # (n_x, n_y, n_z, x_lo, x_hi, y_lo, y_hi, z_lo, z_hi, normalisation, values (x-major)...)
SOURCE_GRID_ENERGY = 10  # (n_E, base kind, block length, ln E nodes..., a GRID_RZ/GRID_XYZ block per node)
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


_TWO_PI = 2.0 * math.pi
_SQRT2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)

# ----------------------------------------------------------------------------- spiral arms: parameter layout
# the head shared by SOURCE_SPIRAL_FGK and SOURCE_SPIRAL_SC10: the radial profile f(R) (normalised by 1/N,
# zero beyond R_cut), the exponential vertical profile and the part of the sources spread evenly in azimuth
_RCUT, _H, _Z0, _A, _B, _R1, _RS, _NORM, _INTERARM = range(9)
SPIRAL_HEAD = 9
FGK_BLUR = SPIRAL_HEAD  # L [kpc] of the centre blur's width W(R) = 2π exp(−R/L); 0: no blur
FGK_BLUR_LO = SPIRAL_HEAD + 1  # the azimuthal shift t is uniform on [c_lo W, c_hi W]
FGK_BLUR_HI = SPIRAL_HEAD + 2
FGK_N_ARMS = SPIRAL_HEAD + 3
FGK_ARMS = SPIRAL_HEAD + 4  # per arm: k, r0 [kpc], φ0 [rad], σ_φ [rad], weight (the weights sum to 1)

# Faucher-Giguère & Kaspi 2006 (ApJ 643, 332), §3.2.1 and Table 2: arm centroids θ(r) = k ln(r/r0) + θ0 [rad]
# in their frame, R_sun = 8.5 kpc, the Sun at θ = 90° (docs/sources.md §1)
FGK06_ARMS = (
    # name, k [rad], r0 [kpc], θ0 [rad]
    ("Norma", 4.25, 3.48, 1.57),
    ("Carina-Sagittarius", 4.25, 3.48, 4.71),
    ("Perseus", 4.89, 4.90, 4.09),
    ("Crux-Scutum", 4.89, 4.90, 0.95),
)
FGK06_R_SUN_KPC = 8.5
FGK06_SUN_AZIMUTH = 0.5 * math.pi
FGK06_ARM_WIDTH_FRACTION = 0.07  # σ = 0.07 r
FGK06_BLUR_PER_KPC = 0.35  # θ_corr = θ_corr,0 exp(−0.35 r/kpc), θ_corr,0 uniform in [0, 2π)
FGK06_Z0_KPC = 0.05  # birth heights exp(−|z|/0.05 kpc)
YK04_A, YK04_B, YK04_R1_KPC = 1.64, 4.01, 0.55  # Yusifov & Küçük 2004 (A&A 422, 545), eq. 15
LORIMER06_A, LORIMER06_B = 1.9, 5.0  # Lorimer et al. 2006 (MNRAS 372, 777), eq. 10 (R₁ = 0)
SC10_R_SUN_KPC = 8.5
SC10_Z0_KPC = 0.2
SC10_INNER_RADIUS_KPC, SC10_RAMP_KPC = 3.0, 1.0  # the arms fade in as in models.gas3d.spiral_params
CENTRE_BLURS = {"one_sided": (0.0, 1.0), "symmetric": (-1.0, 1.0), "none": (0.0, 0.0)}

# Ferrière 2001 (Rev. Mod. Phys. 73, 1031), the supernova rates per unit volume (docs/sources.md §2)
FERRIERE_R_SUN_KPC = 8.5
FERRIERE_IA_RATE = 7.3  # kpc⁻³ Myr⁻¹ at R_sun, z = 0
FERRIERE_IA_LENGTH_KPC = 4.5
FERRIERE_IA_HEIGHT_KPC = 0.325
FERRIERE_CC_RATE = 50.0  # kpc⁻³ Myr⁻¹ at R_sun, z = 0
FERRIERE_CC_RING_KPC = 3.7
FERRIERE_CC_RING_WIDTH_KPC = 2.1
FERRIERE_CC_RING_PEAK = 3.55
FERRIERE_CC_LENGTH_KPC = 6.8
FERRIERE_CC_HEIGHTS_KPC = (0.212, 0.636)
FERRIERE_CC_FRACTIONS = (0.79, 0.21)
SNR_POPULATIONS = ("type_ia", "core_collapse", "total")


@njit(cache=True, inline="always", error_model="numpy")
def radial_surface_profile(R, a, b, R1, Rs):
    """((R + R₁)/(R⊙ + R₁))^a exp(−b (R − R⊙)/(R⊙ + R₁)), unnormalised: Yusifov & Küçük 2004 (A&A 422, 545)
    eq. 15; with R₁ = 0 the form of Lorimer et al. 2006 (MNRAS 372, 777) eq. 10 (docs/physics.md §4.1)."""
    return ((R + R1) / (Rs + R1)) ** a * math.exp(-b * (R - Rs) / (Rs + R1))


@njit(cache=True, inline="always", error_model="numpy")
def _phi_difference(a, b):
    """Φ(a) − Φ(b) for a ≥ b (Φ the standard normal distribution function), without cancellation in
    either tail."""
    if b >= 0.0:
        return 0.5 * (math.erfc(b / _SQRT2) - math.erfc(a / _SQRT2))
    if a <= 0.0:
        return 0.5 * (math.erfc(-a / _SQRT2) - math.erfc(-b / _SQRT2))
    return 1.0 - 0.5 * (math.erfc(a / _SQRT2) + math.erfc(-b / _SQRT2))


@njit(cache=True, error_model="numpy")
def blurred_arm_density(d, sigma, t_lo, t_hi):
    """Density [1/rad] on the circle, at the angle d from an arm's centre, of centre + t + σ N with t uniform
    on [t_lo, t_hi] (the centre blur of Faucher-Giguère & Kaspi 2006, §3.2.1) and N standard normal (the
    spread across the arm): (1/(t_hi − t_lo)) Σ_k [Φ((d + 2πk − t_lo)/σ) − Φ((d + 2πk − t_hi)/σ)], a plain
    wrapped Gaussian when t_hi − t_lo < 1e-7 σ.  Terms beyond 10σ (< 1e-23) are left out."""
    d = wrap_angle(d)
    reach = 10.0 * sigma
    k_lo = int(math.ceil((t_lo - reach - d) / _TWO_PI))
    k_hi = int(math.floor((t_hi + reach - d) / _TWO_PI))
    width = t_hi - t_lo
    total = 0.0
    if width < 1e-7 * sigma:
        t = 0.5 * (t_lo + t_hi)
        for k in range(k_lo, k_hi + 1):
            u = (d + _TWO_PI * k - t) / sigma
            total += math.exp(-0.5 * u * u)
        return total / (sigma * _SQRT_2PI)
    for k in range(k_lo, k_hi + 1):
        c = d + _TWO_PI * k
        total += _phi_difference((c - t_lo) / sigma, (c - t_hi) / sigma)
    return total / width


@njit(cache=True, error_model="numpy")
def fgk_azimuthal_factor(p, R, phi):
    """A(R, φ) = f_i + (1 − f_i) 2π Σ_arms w g(φ | R) of the Faucher-Giguère & Kaspi 2006 arms (§3.2.1): each
    arm's centre φ_i(R) = k ln(R/r0) + φ0, shifted by the centre blur t ~ U[c_lo W, c_hi W],
    W = 2π exp(−R/L), and spread by a Gaussian in azimuth (``blurred_arm_density``).  Its azimuthal mean
    is 1 at every R."""
    fi = p[_INTERARM]
    if R <= 0.0 or fi >= 1.0:
        return 1.0
    L = p[FGK_BLUR]
    W = _TWO_PI * math.exp(-R / L) if L > 0.0 else 0.0
    t_lo = p[FGK_BLUR_LO] * W
    t_hi = p[FGK_BLUR_HI] * W
    total = 0.0
    for i in range(int(p[FGK_N_ARMS])):
        q = FGK_ARMS + 5 * i
        centre = p[q] * math.log(R / p[q + 1]) + p[q + 2]
        total += p[q + 4] * blurred_arm_density(phi - centre, p[q + 3], t_lo, t_hi)
    return fi + (1.0 - fi) * _TWO_PI * total


@njit(cache=True, error_model="numpy")
def sc10_azimuthal_factor(p, R, phi):
    """1 + s(R) (G/⟨G⟩ − 1), s = (1 − f_i) ramp(R): the Steiman-Cameron et al. 2010 four-arm profile G of
    models.gas3d (``arm_azimuthal_profile``, ``spiral_ramp``) over its azimuthal mean; mean 1 at every R."""
    arms = p[SPIRAL_HEAD:]
    s = (1.0 - p[_INTERARM]) * spiral_ramp(arms, R)
    if s <= 0.0:
        return 1.0
    return 1.0 + s * (arm_azimuthal_profile(arms, R, phi) / arm_profile_mean(arms) - 1.0)


@njit(cache=True, inline="always", error_model="numpy")
def _spiral_radial_vertical(p, r, z):
    """f(R)/N × the truncated exponential vertical profile: the azimuthal mean of a spiral source."""
    if r >= p[_RCUT]:
        return 0.0
    f = radial_surface_profile(r, p[_A], p[_B], p[_R1], p[_RS]) * p[_NORM]
    return f * _z_density(z, Z_EXPONENTIAL, p[_Z0], p[_H])


@njit(cache=True, inline="always", error_model="numpy")
def ferriere_ia_shape(R, z, Rs):
    """exp(−(R − R⊙)/4.5 kpc) exp(−|z|/0.325 kpc): the Type Ia rate of Ferrière 2001 over its value at the
    Sun (7.3 kpc⁻³ Myr⁻¹)."""
    return math.exp(-(R - Rs) / FERRIERE_IA_LENGTH_KPC - abs(z) / FERRIERE_IA_HEIGHT_KPC)


@njit(cache=True, inline="always", error_model="numpy")
def ferriere_cc_radial(R, Rs):
    """Radial factor of the core-collapse (Type II) rate of Ferrière 2001: exp(−(R² − R⊙²)/(6.8 kpc)²) beyond
    3.7 kpc, 3.55 exp(−((R − 3.7 kpc)/2.1 kpc)²) inside (continuous to 0.05 % for R⊙ = 8.5 kpc)."""
    if R > FERRIERE_CC_RING_KPC:
        return math.exp(-(R * R - Rs * Rs) / (FERRIERE_CC_LENGTH_KPC * FERRIERE_CC_LENGTH_KPC))
    u = (R - FERRIERE_CC_RING_KPC) / FERRIERE_CC_RING_WIDTH_KPC
    return FERRIERE_CC_RING_PEAK * math.exp(-u * u)


@njit(cache=True, inline="always", error_model="numpy")
def ferriere_cc_vertical(z):
    """Vertical factor of the core-collapse rate of Ferrière 2001: 0.79 exp(−(z/0.212)²) + 0.21
    exp(−(z/0.636)²) (z in kpc)."""
    u = z / FERRIERE_CC_HEIGHTS_KPC[0]
    v = z / FERRIERE_CC_HEIGHTS_KPC[1]
    return FERRIERE_CC_FRACTIONS[0] * math.exp(-u * u) + FERRIERE_CC_FRACTIONS[1] * math.exp(-v * v)


@njit(cache=True, inline="always", error_model="numpy")
def _grid_rz_density(params, o, r, z):
    """The SOURCE_GRID_RZ density whose parameters start at params[o]."""
    nr = int(params[o])
    nz = int(params[o + 1])
    fr = (r - params[o + 2]) / (params[o + 3] - params[o + 2]) * (nr - 1)
    fz = (z - params[o + 4]) / (params[o + 5] - params[o + 4]) * (nz - 1)
    if fr < 0.0 or fr > nr - 1 or fz < 0.0 or fz > nz - 1:
        return 0.0
    i = min(int(fr), nr - 2)
    j = min(int(fz), nz - 2)
    a = fr - i
    c = fz - j
    k0 = o + 7 + i * nz + j
    k1 = k0 + nz
    low = (1.0 - c) * params[k0] + c * params[k0 + 1]
    high = (1.0 - c) * params[k1] + c * params[k1 + 1]
    return params[o + 6] * ((1.0 - a) * low + a * high)


@njit(cache=True, inline="always", error_model="numpy")
def _grid_xyz_density(params, o, x, y, z):
    """The SOURCE_GRID_XYZ density whose parameters start at params[o]."""
    nx = int(params[o])
    ny = int(params[o + 1])
    nz = int(params[o + 2])
    fx = (x - params[o + 3]) / (params[o + 4] - params[o + 3]) * (nx - 1)
    fy = (y - params[o + 5]) / (params[o + 6] - params[o + 5]) * (ny - 1)
    fz = (z - params[o + 7]) / (params[o + 8] - params[o + 7]) * (nz - 1)
    if fx < 0.0 or fx > nx - 1 or fy < 0.0 or fy > ny - 1 or fz < 0.0 or fz > nz - 1:
        return 0.0
    i = min(int(fx), nx - 2)
    j = min(int(fy), ny - 2)
    k = min(int(fz), nz - 2)
    a = fx - i
    b = fy - j
    c = fz - k
    value = 0.0
    for di in range(2):
        wi = a if di == 1 else 1.0 - a
        for dj in range(2):
            wj = b if dj == 1 else 1.0 - b
            q = o + 10 + ((i + di) * ny + (j + dj)) * nz + k
            value += wi * wj * ((1.0 - c) * params[q] + c * params[q + 1])
    return params[o + 9] * value


@njit(cache=True, inline="always", error_model="numpy")
def energy_node_weight(params, ln_e):
    """(k, t) of a SOURCE_GRID_ENERGY density at ln E: the density is (1 − t) p_k + t p_{k+1}, linear in
    ln E between the nodes and the end node's beyond them."""
    n = int(params[0])
    if ln_e <= params[3]:
        return 0, 0.0
    if ln_e >= params[2 + n]:
        return n - 2, 1.0
    k = 0
    while k < n - 2 and params[4 + k] <= ln_e:
        k += 1
    return k, (ln_e - params[3 + k]) / (params[4 + k] - params[3 + k])


@njit(cache=True, inline="always", error_model="numpy")
def _grid_block_density(params, o, base, x, y, z, r):
    if base == SOURCE_GRID_RZ:
        return _grid_rz_density(params, o, r, z)
    return _grid_xyz_density(params, o, x, y, z)


@njit(cache=True, inline="always", error_model="numpy")
def _grid_energy_density(params, x, y, z, r, ln_e):
    """SOURCE_GRID_ENERGY: (n_E, base kind, block length, ln E nodes..., one base-grid block per node)."""
    n = int(params[0])
    base = int(params[1])
    size = int(params[2])
    k, t = energy_node_weight(params, ln_e)
    o = 3 + n + k * size
    out = 0.0
    if t < 1.0:
        out += (1.0 - t) * _grid_block_density(params, o, base, x, y, z, r)
    if t > 0.0:
        out += t * _grid_block_density(params, o + size, base, x, y, z, r)
    return out


@njit(cache=True, error_model="numpy")
def source_density(kind, params, x, y, z, r, ln_e=0.0):
    """Normalised source density [kpc⁻³] at (x, y, z), r = sqrt(x² + y²), for a particle of kinetic energy
    exp(ln_e) GeV (only SOURCE_GRID_ENERGY depends on it): the ``pdf`` of the source classes below, for
    the kernel."""
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
        return _grid_rz_density(params, 0, r, z)
    if kind == SOURCE_SPIRAL_FGK:
        base = _spiral_radial_vertical(params, r, z)
        if base == 0.0:
            return 0.0
        return base * fgk_azimuthal_factor(params, r, math.atan2(y, x))
    if kind == SOURCE_SPIRAL_SC10:
        base = _spiral_radial_vertical(params, r, z)
        if base == 0.0:
            return 0.0
        return base * sc10_azimuthal_factor(params, r, math.atan2(y, x))
    if kind == SOURCE_SNR:
        if r >= params[0] or abs(z) >= params[1]:
            return 0.0
        rs = params[2]
        out = 0.0
        if params[3] > 0.0:
            out += params[3] * ferriere_ia_shape(r, z, rs)
        if params[4] > 0.0:
            out += params[4] * ferriere_cc_radial(r, rs) * ferriere_cc_vertical(z)
        return out
    if kind == SOURCE_GRID_XYZ:
        return _grid_xyz_density(params, 0, x, y, z)
    if kind == SOURCE_GRID_ENERGY:
        return _grid_energy_density(params, x, y, z, r, ln_e)
    return 0.0


@njit(cache=True, error_model="numpy")
def source_density_array(kind, params, x, y, z, ln_e):
    """``source_density`` at every point of the flat arrays x, y, z [kpc] and ln E (E in GeV)."""
    out = np.empty(x.size)
    for n in range(x.size):
        r = math.sqrt(x[n] * x[n] + y[n] * y[n])
        out[n] = source_density(kind, params, x[n], y[n], z[n], r, ln_e[n])
    return out


def _kernel_pdf(kind, params, x, y, z, energy_GeV=1.0):
    """The kernel's density at numpy points of any (broadcast) shape (and kinetic energies [GeV])."""
    arrays = (np.asarray(a, dtype=float) for a in (x, y, z, np.log(energy_GeV)))
    x, y, z, ln_e = np.broadcast_arrays(*arrays)
    flat = (np.ascontiguousarray(a).ravel() for a in (x, y, z, ln_e))
    return source_density_array(kind, params, *flat).reshape(x.shape)


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

    axisymmetric = True

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
        return _kernel_pdf(*self.density_params(), x, y, z)

    def check_inside_halo(self, halo_height_kpc, radius_max_kpc):
        """ValueError unless the density vanishes outside |z| ≤ H, R ≤ R_max: every cell with a non-zero
        corner must lie inside (the bilinear density is then zero beyond, and the normalisation exact)."""
        v = self.values
        live = (v[:-1, :-1] > 0) | (v[1:, :-1] > 0) | (v[:-1, 1:] > 0) | (v[1:, 1:] > 0)
        out = (self.R[1:, None] > radius_max_kpc) | (
            np.maximum(-self.z[:-1], self.z[1:])[None, :] > halo_height_kpc
        )
        _refuse_cells_outside(live & out, (self.R, self.z), ("R", "z"), halo_height_kpc, radius_max_kpc)

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


def _refuse_cells_outside(bad, nodes, names, H, Rmax):
    """ValueError naming the first grid cell (by its lowest corner) that has density outside the halo."""
    if not bad.any():
        return
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    corner = ", ".join(f"{n} = {float(a[i]):.6g}" for n, a, i in zip(names, nodes, first))
    raise ValueError(
        f"the density is non-zero in {int(bad.sum())} grid cell(s) that reach outside the halo (|z| ≤ "
        f"galaxy.halo_height_kpc = {H}, R ≤ galaxy.radius_max_kpc = {Rmax}), the first at the corner "
        f"{corner} kpc; set the nodes there to zero or cut the grid to the halo"
    )


class TabulatedXYZSource:
    """A density given at the nodes of a uniform Cartesian (x, y, z) grid, trilinear between them and zero
    outside; normalised here (the trapezoidal sum, exact for the trilinear density).  Positions are drawn by
    rejection from the grid's box under the largest node value, exactly from the trilinear density."""

    axisymmetric = False

    def __init__(self, x_nodes_kpc, y_nodes_kpc, z_nodes_kpc, values):
        axes = [np.asarray(a, dtype=float) for a in (x_nodes_kpc, y_nodes_kpc, z_nodes_kpc)]
        for name, a in zip(("x_kpc", "y_kpc", "z_kpc"), axes):
            uniform_axis_params(a, name)
        v = np.asarray(values, dtype=float)
        shape = tuple(a.size for a in axes)
        if v.shape != shape:
            raise ValueError(f"the density has shape {v.shape}, the axes (x, y, z) need {shape}")
        _check_values(v)
        self.x, self.y, self.z = axes
        self.values = v
        weights = [np.full(a.size, a[1] - a[0]) for a in axes]
        for w in weights:
            w[[0, -1]] *= 0.5
        total = float(np.einsum("i,j,k,ijk->", *weights, v))
        if total <= 0:
            raise ValueError("the tabulated density is zero everywhere")
        self.norm = 1.0 / total
        self._max = float(v.max()) * self.norm

    def density_params(self):
        """(kind, parameters) of this density for the kernel (``source_density``)."""
        head = [len(self.x), len(self.y), len(self.z)]
        head += [self.x[0], self.x[-1], self.y[0], self.y[-1], self.z[0], self.z[-1], self.norm]
        return SOURCE_GRID_XYZ, np.concatenate([head, self.values.ravel()])

    def pdf(self, x, y, z):
        """Normalised source density [kpc⁻³] (the kernel's function, point by point)."""
        return _kernel_pdf(*self.density_params(), x, y, z)

    def check_inside_halo(self, halo_height_kpc, radius_max_kpc):
        """ValueError unless the density vanishes outside |z| ≤ H, R ≤ R_max (every cell with a non-zero
        corner inside: a box lies in the cylinder when its corners do)."""
        v = self.values > 0
        live = np.zeros(tuple(n - 1 for n in v.shape), dtype=bool)
        for di in (0, 1):
            for dj in (0, 1):
                for dk in (0, 1):
                    live |= v[di : v.shape[0] - 1 + di, dj : v.shape[1] - 1 + dj, dk : v.shape[2] - 1 + dk]
        ax = np.maximum(np.abs(self.x[:-1]), np.abs(self.x[1:]))
        ay = np.maximum(np.abs(self.y[:-1]), np.abs(self.y[1:]))
        az = np.maximum(np.abs(self.z[:-1]), np.abs(self.z[1:]))
        out = (np.hypot(ax[:, None, None], ay[None, :, None]) > radius_max_kpc) | (
            az[None, None, :] > halo_height_kpc
        )
        _refuse_cells_outside(
            live & out, (self.x, self.y, self.z), ("x", "y", "z"), halo_height_kpc, radius_max_kpc
        )

    def sample_positions(self, rng, n):
        out = np.empty((n, 3))
        todo = np.arange(n)
        lo = np.array([self.x[0], self.y[0], self.z[0]])
        span = np.array([self.x[-1], self.y[-1], self.z[-1]]) - lo
        while todo.size:
            m = todo.size
            p = lo + span * rng.random((m, 3))
            ok = rng.random(m) * self._max < self.pdf(p[:, 0], p[:, 1], p[:, 2])
            out[todo[ok]] = p[ok]
            todo = todo[~ok]
        return out[:, 0], out[:, 1], out[:, 2]


def _check_values(v):
    """ValueError unless every node value is finite and ≥ 0."""
    bad = ~np.isfinite(v)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"the density has {int(bad.sum())} NaN/inf value(s), the first at index {idx}")
    if np.any(v < 0):
        idx = tuple(int(i) for i in np.argwhere(v < 0)[0])
        raise ValueError(f"the density has {int((v < 0).sum())} negative value(s), the first at index {idx}")


class EnergyGridSource:
    """A tabulated density that depends on the particle's energy: normalised grids p_k(x) (all of one
    geometry, ``TabulatedRZSource`` or ``TabulatedXYZSource``) at kinetic energies E_k, and between two nodes
    the mixture p(x | E) = (1 − t) p_k(x) + t p_{k+1}(x), t linear in ln E (the end node's grid beyond
    them), which is normalised at every E.  The source of a spectrum that differs from place to place
    (secondaries from a proton sea whose spectrum varies through the Galaxy): q(x, E) = Q(E) p(x | E), with
    Q(E) the injection spectrum.  Forward particles draw their energy first and then their position from
    p(· | E) (``sample_positions_at``); the backward estimator meets p(x | E_s) at the path's energy."""

    energy_dependent = True

    def __init__(self, grids, energies_GeV):
        energies = np.asarray(energies_GeV, dtype=float)
        if energies.ndim != 1 or energies.size < 2 or np.any(energies <= 0) or np.any(np.diff(energies) <= 0):
            raise ValueError(
                f"E_GeV must hold at least two positive, increasing kinetic energies; got {energies_GeV!r}"
            )
        if len(grids) != energies.size:
            raise ValueError(f"{len(grids)} grids for {energies.size} energies")
        kinds = {type(g) for g in grids}
        if len(kinds) != 1 or not kinds <= {TabulatedRZSource, TabulatedXYZSource}:
            raise ValueError("the grids must all be cylindrical or all cartesian")
        axes = [(g.R, g.z) if isinstance(g, TabulatedRZSource) else (g.x, g.y, g.z) for g in grids]
        if any(not all(np.array_equal(a, b) for a, b in zip(ax, axes[0])) for ax in axes):
            raise ValueError("the grids of all energies must share their axes")
        blocks = [g.density_params() for g in grids]
        self.grids, self.energies_GeV = list(grids), energies
        self.axisymmetric = grids[0].axisymmetric
        head = [energies.size, blocks[0][0], blocks[0][1].size]
        self._params = np.concatenate([head, np.log(energies), *(b[1] for b in blocks)])

    def density_params(self):
        """(kind, parameters) of this density for the kernel (``source_density``)."""
        return SOURCE_GRID_ENERGY, self._params

    def pdf(self, x, y, z, energy_GeV):
        """Normalised density [kpc⁻³] at the points for particles of kinetic energy ``energy_GeV``."""
        return _kernel_pdf(*self.density_params(), x, y, z, energy_GeV)

    def check_inside_halo(self, halo_height_kpc, radius_max_kpc):
        for g in self.grids:
            g.check_inside_halo(halo_height_kpc, radius_max_kpc)

    def node_choice(self, rng, energies_GeV):
        """The grid each particle of kinetic energy ``energies_GeV`` draws from: node k + 1 with probability
        t, else k, which draws exactly from the mixture p(· | E)."""
        nodes = np.log(self.energies_GeV)
        ln_e = np.log(np.asarray(energies_GeV, dtype=float))
        # (k, t) as the kernel's energy_node_weight: node k at or below ln E, t linear, clipped at the ends
        k = np.clip(np.searchsorted(nodes, ln_e, side="right") - 1, 0, nodes.size - 2)
        t = np.clip((ln_e - nodes[k]) / (nodes[k + 1] - nodes[k]), 0.0, 1.0)
        return k + (rng.random(ln_e.size) < t)

    def sample_positions_at(self, rng, energies_GeV):
        """Positions [kpc] of particles with the given kinetic energies, drawn from p(· | E)."""
        node = self.node_choice(rng, energies_GeV)
        out = np.empty((node.size, 3))
        for k in np.unique(node):
            pick = np.flatnonzero(node == k)
            out[pick] = np.column_stack(self.grids[k].sample_positions(rng, pick.size))
        return out[:, 0], out[:, 1], out[:, 2]

    def sample_positions(self, rng, n):
        raise ValueError(
            "this source's density depends on the particle energy: draw positions with "
            "sample_positions_at(rng, energies_GeV)"
        )


GRID_GEOMETRIES = ("cartesian", "cylindrical")


def grid_source(geometry, axes, values, energies_GeV=None):
    """A tabulated source: ``geometry`` "cartesian" (axes x, y, z [kpc], values of shape (n_x, n_y, n_z)) or
    "cylindrical" (axes R, z [kpc], values (n_R, n_z), axisymmetric).  With ``energies_GeV`` (kinetic, ≥ 2,
    increasing) the values carry a last axis over them and the source is an :class:`EnergyGridSource`, each
    energy's grid normalised on its own.  ValueError names the problem."""
    if energies_GeV is not None:
        energies = np.asarray(energies_GeV, dtype=float)
        v = np.asarray(values, dtype=float)
        if energies.ndim != 1 or v.shape[-1:] != energies.shape:
            raise ValueError(
                f"the density has shape {v.shape}: with an energy axis its last axis must have the "
                f"{energies.size} nodes of E_GeV"
            )
        grids = []
        for k, e in enumerate(energies):
            try:
                grids.append(grid_source(geometry, axes, v[..., k]))
            except ValueError as exc:
                raise ValueError(f"at E_GeV[{k}] = {e:.4g}: {exc}") from None
        return EnergyGridSource(grids, energies)
    if geometry == "cartesian":
        if len(axes) != 3:
            raise ValueError(f"a cartesian grid needs three axes (x, y, z), got {len(axes)}")
        return TabulatedXYZSource(*axes, values)
    if geometry == "cylindrical":
        if len(axes) != 2:
            raise ValueError(f"a cylindrical grid needs two axes (R, z), got {len(axes)}")
        for name, a in zip(("R_kpc", "z_kpc"), axes):
            uniform_axis_params(np.asarray(a, dtype=float), name)
        v = np.asarray(values, dtype=float)
        shape = (len(axes[0]), len(axes[1]))
        if v.shape != shape:
            raise ValueError(f"the density has shape {v.shape}, the axes (R, z) need {shape}")
        _check_values(v)
        if float(axes[0][0]) < 0:
            raise ValueError(f"axis R_kpc starts at {float(axes[0][0])!r}: a radius cannot be negative")
        if not np.any(v > 0):
            raise ValueError("the tabulated density is zero everywhere")
        return TabulatedRZSource(axes[0], axes[1], v)
    raise ValueError(f"geometry = {geometry!r}: must be one of {', '.join(map(repr, GRID_GEOMETRIES))}")


def source_from_tally(result, tally_name, energy_index=None, energy_range_GeV=None, spectrum=None):
    """A tabulated source from a cylindrical or cartesian tally of a result (e.g. a primary density, for a
    source of secondaries): the density at the tally's cell centres, linear between them (zero beyond the
    outermost centres).  Give either ``energy_index`` (the density in that energy bin, kpc⁻³ GeV⁻¹) or
    ``energy_range_GeV`` = (lo, hi) (∫ n dE over it, the bins weighted by their overlap, kpc⁻³);
    ``spectrum`` reweights the tally first (default: the configured spectrum).  The source is normalised,
    so only the shape counts."""
    if tally_name not in result.tallies:
        raise KeyError(f"no tally named {tally_name!r} (available: {', '.join(result.tallies)})")
    tally = result.tallies[tally_name]
    if tally.kind not in GRID_GEOMETRIES:
        raise ValueError(
            f"tally {tally_name!r} is a {tally.kind} tally; a source needs a cylindrical or cartesian one"
        )
    density = tally.reweight(spectrum).density if spectrum is not None else tally.density
    edges = tally.edges["E_GeV"]
    if (energy_index is None) == (energy_range_GeV is None):
        raise ValueError("give exactly one of energy_index and energy_range_GeV")
    if energy_index is not None:
        if not -len(edges) + 1 <= energy_index < len(edges) - 1:
            raise IndexError(f"energy_index = {energy_index}: the tally has {len(edges) - 1} energy bins")
        values = density[..., energy_index]
    else:
        lo, hi = (float(e) for e in energy_range_GeV)
        overlap = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0.0, None)
        if not lo < hi or not overlap.any():
            raise ValueError(
                f"energy_range_GeV = {energy_range_GeV}: must be increasing and meet the tally's "
                f"energies {edges[0]:.6g}-{edges[-1]:.6g} GeV"
            )
        values = density @ overlap
    names = ("R_kpc", "z_kpc") if tally.kind == "cylindrical" else ("x_kpc", "y_kpc", "z_kpc")
    axes = [tally.centers(n) for n in names]
    return grid_source(tally.kind, axes, np.clip(values, 0.0, None))


class _RadialDraw:
    """Radii on [0, R_cut] with the density ∝ R f(R) of a surface density f: rejection from the uniform
    proposal under a bound of R f(R) (its maximum, found on a 20001-node grid and refined, times 1 + 1e-6),
    exact; a proposal above the bound raises.  ``norm`` = 2π ∫ f R dR (adaptive quadrature, 1e-12)."""

    def __init__(self, f, R_cut_kpc, breaks=()):
        self.f, self.R_cut = f, float(R_cut_kpc)
        grid = np.linspace(0.0, self.R_cut, 20001)
        g = grid * f(grid)
        i = int(np.argmax(g))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
        best = optimize.minimize_scalar(
            lambda r: -r * float(f(np.array([r]))[0]),
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-12 * self.R_cut},
        )
        self.bound = max(float(g.max()), -float(best.fun)) * (1.0 + 1e-6)
        points = [b for b in breaks if 0.0 < b < self.R_cut] or None
        integral = integrate.quad(
            lambda r: r * float(f(np.array([r]))[0]),
            0.0,
            self.R_cut,
            points=points,
            epsabs=0.0,
            epsrel=1e-12,
            limit=400,
        )[0]
        self.norm = 2.0 * math.pi * integral

    def sample(self, rng, n):
        out = np.empty(n)
        todo = np.arange(n)
        while todo.size:
            r = self.R_cut * rng.random(todo.size)
            g = r * self.f(r)
            if np.any(g > self.bound):
                raise RuntimeError("the radial profile exceeds the bound of its rejection sampler")
            ok = rng.random(todo.size) * self.bound < g
            out[todo[ok]] = r[ok]
            todo = todo[~ok]
        return out


def _phi_difference_np(a, b):
    """numpy twin of ``_phi_difference`` (a ≥ b elementwise): the pair is mirrored to a + b ≥ 0, where
    ½ [erfc(b/√2) − erfc(a/√2)] loses no digits."""
    flip = a + b < 0.0
    hi = np.where(flip, -b, a)
    lo = np.where(flip, -a, b)
    return 0.5 * (special.erfc(lo / _SQRT2) - special.erfc(hi / _SQRT2))


class _SpiralArms:
    """Common part of the spiral-arm sources: Σ(R, φ) = f(R)/N × A(R, φ) × Z(z) with f a Yusifov & Küçük
    (or, R₁ = 0, Lorimer) radial profile cut at R_cut, A an azimuthal factor of mean 1 at every R (so N =
    2π ∫ f R dR normalises it) and Z = exp(−|z|/z0) truncated at |z| < H (docs/sources.md §1)."""

    axisymmetric = False

    def __init__(self, R_cut_kpc, halo_height_kpc, z0_kpc, a, b, R1_kpc, Rs_kpc, interarm_fraction):
        self.R_cut_kpc, self.halo_height_kpc, self.z0_kpc = (
            float(R_cut_kpc),
            float(halo_height_kpc),
            float(z0_kpc),
        )
        self.a, self.b, self.R1_kpc, self.Rs_kpc = float(a), float(b), float(R1_kpc), float(Rs_kpc)
        self.interarm_fraction = float(interarm_fraction)
        self._radial = _RadialDraw(self.surface_profile, self.R_cut_kpc)

    def surface_profile(self, R_kpc):
        """Unnormalised f(R)."""
        R = np.asarray(R_kpc, dtype=float)
        return ((R + self.R1_kpc) / (self.Rs_kpc + self.R1_kpc)) ** self.a * np.exp(
            -self.b * (R - self.Rs_kpc) / (self.Rs_kpc + self.R1_kpc)
        )

    def _head(self):
        return [
            self.R_cut_kpc,
            self.halo_height_kpc,
            self.z0_kpc,
            self.a,
            self.b,
            self.R1_kpc,
            self.Rs_kpc,
            1.0 / self._radial.norm,
            self.interarm_fraction,
        ]

    def pdf(self, x, y, z):
        """Normalised source density [kpc⁻³] (numpy; the kernel's ``source_density`` is its twin)."""
        x, y, z = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x, y, z)))
        R = np.hypot(x, y)
        inside = R < self.R_cut_kpc
        f = np.where(inside, self.surface_profile(R), 0.0) / self._radial.norm
        Rs = np.where(inside & (R > 0), R, 1.0)
        A = np.where(inside & (R > 0), self.azimuthal_factor(Rs, np.arctan2(y, x)), 1.0)
        return f * A * _z_pdf(z, "exponential", self.z0_kpc, self.halo_height_kpc)

    def sample_positions(self, rng, n):
        R = self._radial.sample(rng, n)
        phi = self._sample_azimuth(rng, R)
        z = _sample_z(rng, n, "exponential", self.z0_kpc, self.halo_height_kpc)
        return R * np.cos(phi), R * np.sin(phi), z

    def arm_radial_offsets_kpc(self, x, y):
        """{arm name: R − R_arm [kpc]} at (x, y): the offset along the radius from the nearest crossing of
        each arm's centroid (models.gas3d.arm_radial_offset_kpc), positive outside the arm."""
        return {
            name: arm_radial_offset_kpc(float(x), float(y), a, alpha, rot)
            for name, a, alpha, rot in self.arms()
        }


class FaucherGiguereKaspiSource(_SpiralArms):
    """Sources on the four arms of Faucher-Giguère & Kaspi 2006 (ApJ 643, 332, §3.2.1, Table 2), the
    Yusifov & Küçük 2004 radial profile and exp(−|z|/0.05 kpc) (docs/sources.md §1).  At radius R each arm
    puts its sources at the azimuth φ_i(R) = k ln(R/r0) + φ0, shifted by the centre blur and spread by a
    Gaussian of σ_φ = w √(1 + k²) in azimuth, i.e. σ = w R across the arm (w = 0.07).  The paper's frame
    (R_sun = 8.5 kpc, the Sun at θ = 90°) is turned so that its Sun lies in the direction of
    ``sun_position_kpc`` (plus ``rotation_deg``) and, with ``scale_to_sun``, stretched by R_sun/8.5 kpc."""

    def __init__(
        self,
        sun_position_kpc,
        halo_height_kpc,
        R_cut_kpc,
        *,
        arm_width_fraction=FGK06_ARM_WIDTH_FRACTION,
        arm_weights=(1.0, 1.0, 1.0, 1.0),
        interarm_fraction=0.0,
        centre_blur="one_sided",
        rotation_deg=0.0,
        scale_to_sun=True,
        radial_a=YK04_A,
        radial_b=YK04_B,
        z0_kpc=FGK06_Z0_KPC,
    ):
        sx, sy = float(sun_position_kpc[0]), float(sun_position_kpc[1])
        self.scale = math.hypot(sx, sy) / FGK06_R_SUN_KPC if scale_to_sun else 1.0
        self.turn = math.atan2(sy, sx) - FGK06_SUN_AZIMUTH + math.radians(rotation_deg)
        w = np.asarray(arm_weights, dtype=float)
        self.weights = w / w.sum()
        self.centre_blur = centre_blur
        self.blur = CENTRE_BLURS[centre_blur]
        self.arm_table = [
            (name, k, r0 * self.scale, theta0 + self.turn, arm_width_fraction * math.sqrt(1.0 + k * k))
            for name, k, r0, theta0 in FGK06_ARMS
        ]
        super().__init__(
            R_cut_kpc,
            halo_height_kpc,
            z0_kpc,
            radial_a,
            radial_b,
            YK04_R1_KPC * self.scale,
            FGK06_R_SUN_KPC * self.scale,
            interarm_fraction,
        )

    def _blur_length(self):
        return 0.0 if self.centre_blur == "none" else self.scale / FGK06_BLUR_PER_KPC

    def density_params(self):
        """(kind, parameters) of this density for the kernel (``source_density``)."""
        p = self._head() + [self._blur_length(), *self.blur, len(self.arm_table)]
        for (_, k, r0, phi0, sigma), w in zip(self.arm_table, self.weights):
            p += [k, r0, phi0, sigma, w]
        return SOURCE_SPIRAL_FGK, np.array(p, dtype=float)

    def arms(self):
        """(name, a [kpc], α, rotation [rad]) of each arm centroid, φ(R) = ln(R/a)/α + rotation."""
        return [(name, r0, 1.0 / k, phi0) for name, k, r0, phi0, _ in self.arm_table]

    def _blur_window(self, R):
        L = self._blur_length()
        W = 2.0 * np.pi * np.exp(-R / L) if L > 0 else np.zeros_like(R)
        return self.blur[0] * W, self.blur[1] * W

    def azimuthal_factor(self, R, phi):
        """A(R, φ) in numpy (R > 0): the mixture the sampler draws from, written out."""
        R, phi = np.broadcast_arrays(np.asarray(R, dtype=float), np.asarray(phi, dtype=float))
        t_lo, t_hi = self._blur_window(R)
        width = t_hi - t_lo
        total = np.zeros(R.shape)
        for (_, k, r0, phi0, sigma), w in zip(self.arm_table, self.weights):
            d = phi - (k * np.log(R / r0) + phi0)
            d = d - 2.0 * np.pi * np.floor((d + np.pi) / (2.0 * np.pi))
            # |d − t| ≤ 3π: turns k with |2πk| ≤ 3π + 10σ reach within 10σ
            K = int(math.ceil(1.5 + 10.0 * sigma / (2.0 * np.pi)))
            narrow = width < 1e-7 * sigma
            safe = np.where(narrow, 1.0, width)
            mid = 0.5 * (t_lo + t_hi)
            arm = np.zeros(R.shape)
            for kk in range(-K, K + 1):
                c = d + 2.0 * np.pi * kk
                if narrow.any():
                    gauss = np.exp(-0.5 * ((c - mid) / sigma) ** 2) / (sigma * _SQRT_2PI)
                    arm += np.where(
                        narrow, gauss, _phi_difference_np((c - t_lo) / sigma, (c - t_hi) / sigma) / safe
                    )
                else:
                    arm += _phi_difference_np((c - t_lo) / sigma, (c - t_hi) / sigma) / width
            total += w * arm
        f = self.interarm_fraction
        return f + (1.0 - f) * 2.0 * np.pi * total

    def _sample_azimuth(self, rng, R):
        n = R.size
        arm = rng.choice(len(self.arm_table), size=n, p=self.weights)
        k = np.array([a[1] for a in self.arm_table])[arm]
        r0 = np.array([a[2] for a in self.arm_table])[arm]
        phi0 = np.array([a[3] for a in self.arm_table])[arm]
        sigma = np.array([a[4] for a in self.arm_table])[arm]
        t_lo, t_hi = self._blur_window(R)
        with np.errstate(divide="ignore"):
            centre = k * np.log(R / r0) + phi0
        phi = centre + t_lo + (t_hi - t_lo) * rng.random(n) + sigma * rng.standard_normal(n)
        even = (rng.random(n) < self.interarm_fraction) | (R <= 0)
        phi[even] = rng.uniform(0.0, 2.0 * np.pi, int(even.sum()))
        return phi


@njit(cache=True)
def _sc10_ramp(arms, R):
    out = np.empty(R.size)
    for n in range(R.size):
        out[n] = spiral_ramp(arms, R[n])
    return out


@njit(cache=True)
def _sc10_centres(arms, R, arm):
    out = np.empty(R.size)
    for n in range(R.size):
        q = SPIRAL_ARMS + 3 * arm[n]
        out[n] = arm_centre_azimuth(R[n], arms[q], arms[q + 1], arms[SPIRAL_ROTATION])
    return out


class SteimanCameronSource(_SpiralArms):
    """Sources on the four arms of Steiman-Cameron et al. 2010 (ApJ 722, 1460) as the spiral gas of
    models.gas3d places them (``spiral_params``: arm centres, the azimuthal profile exp(−Δφ²/δ²), the
    fade-in from 3 kpc over 1 kpc), modulating the Lorimer et al. 2006 radial profile with
    exp(−|z|/0.2 kpc) (docs/sources.md §1).  Turned and, with ``scale_to_sun``, stretched with the Sun as the
    Faucher-Giguère & Kaspi source is (their fit also puts the Sun at 8.5 kpc)."""

    def __init__(
        self,
        sun_position_kpc,
        halo_height_kpc,
        R_cut_kpc,
        *,
        arm_width_deg=STEIMAN_CAMERON_WIDTH_DEG,
        arm_weights=(1.0, 1.0, 1.0, 1.0),
        interarm_fraction=0.0,
        rotation_deg=0.0,
        scale_to_sun=True,
        radial_a=LORIMER06_A,
        radial_b=LORIMER06_B,
        z0_kpc=SC10_Z0_KPC,
    ):
        sx, sy = float(sun_position_kpc[0]), float(sun_position_kpc[1])
        self.scale = math.hypot(sx, sy) / SC10_R_SUN_KPC if scale_to_sun else 1.0
        turn_deg = rotation_deg + math.degrees(math.atan2(sy, sx) - math.pi)
        arms = spiral_params(
            width_deg=arm_width_deg,
            arm_weights=tuple(arm_weights),
            inner_radius_kpc=SC10_INNER_RADIUS_KPC * self.scale,
            ramp_kpc=SC10_RAMP_KPC * self.scale,
            rotation_deg=turn_deg,
        )[:SPIRAL_BASE]
        for i in range(N_ARMS):
            arms[SPIRAL_ARMS + 3 * i] *= self.scale
        self.arm_params = arms
        w = np.asarray(arm_weights, dtype=float)
        self.weights = w / w.sum()
        super().__init__(
            R_cut_kpc,
            halo_height_kpc,
            z0_kpc,
            radial_a,
            radial_b,
            0.0,
            SC10_R_SUN_KPC * self.scale,
            interarm_fraction,
        )

    def density_params(self):
        """(kind, parameters) of this density for the kernel (``source_density``)."""
        return SOURCE_SPIRAL_SC10, np.concatenate([np.array(self._head(), dtype=float), self.arm_params])

    def arms(self):
        """(name, a [kpc], α, rotation [rad]) of each arm centroid, φ(R) = ln(R/a)/α + rotation."""
        p = self.arm_params
        return [
            (name, p[SPIRAL_ARMS + 3 * i], p[SPIRAL_ARMS + 3 * i + 1], p[SPIRAL_ROTATION])
            for i, (name, *_) in enumerate(STEIMAN_CAMERON_ARMS)
        ]

    def _spread(self, R):
        """s(R) = (1 − f_i) ramp(R): the part of the sources in the arms at R."""
        return (1.0 - self.interarm_fraction) * _sc10_ramp(
            self.arm_params, np.ascontiguousarray(R, dtype=float).ravel()
        ).reshape(np.shape(R))

    def azimuthal_factor(self, R, phi):
        """1 + s(R) (2π Σ_i w_i N_wrapped(φ − φ_i(R); δ/√2) − 1) in numpy (R > 0): the mixture the sampler
        draws from, written out."""
        R, phi = np.broadcast_arrays(np.asarray(R, dtype=float), np.asarray(phi, dtype=float))
        sigma = self.arm_params[SPIRAL_WIDTH_RAD] / math.sqrt(2.0)
        K = int(math.ceil(1.5 + 10.0 * sigma / (2.0 * np.pi))) + 1
        flat = np.ascontiguousarray(R).ravel()
        total = np.zeros(flat.size)
        for i, w in enumerate(self.weights):
            centre = _sc10_centres(self.arm_params, flat, np.full(flat.size, i, dtype=np.int64))
            d = phi.ravel() - centre
            d = d - 2.0 * np.pi * np.floor((d + np.pi) / (2.0 * np.pi))
            for kk in range(-K, K + 1):
                total += w * np.exp(-0.5 * ((d + 2.0 * np.pi * kk) / sigma) ** 2) / (sigma * _SQRT_2PI)
        s = self._spread(flat)
        return (1.0 + s * (2.0 * np.pi * total - 1.0)).reshape(R.shape)

    def _sample_azimuth(self, rng, R):
        n = R.size
        arm = rng.choice(N_ARMS, size=n, p=self.weights).astype(np.int64)
        sigma = self.arm_params[SPIRAL_WIDTH_RAD] / math.sqrt(2.0)
        phi = np.empty(n)
        in_arm = rng.random(n) < self._spread(R)
        m = int(in_arm.sum())
        phi[in_arm] = _sc10_centres(self.arm_params, R[in_arm], arm[in_arm]) + sigma * rng.standard_normal(m)
        phi[~in_arm] = rng.uniform(0.0, 2.0 * np.pi, n - m)
        return phi


def _ferriere_ia_radial_np(R):
    return np.exp(-(np.asarray(R, dtype=float) - FERRIERE_R_SUN_KPC) / FERRIERE_IA_LENGTH_KPC)


def _ferriere_cc_radial_np(R):
    R = np.asarray(R, dtype=float)
    u = (R - FERRIERE_CC_RING_KPC) / FERRIERE_CC_RING_WIDTH_KPC
    outer = np.exp(-(R * R - FERRIERE_R_SUN_KPC**2) / FERRIERE_CC_LENGTH_KPC**2)
    return np.where(R > FERRIERE_CC_RING_KPC, outer, FERRIERE_CC_RING_PEAK * np.exp(-u * u))


def _ferriere_cc_vertical_np(z):
    z = np.asarray(z, dtype=float)
    (h1, h2), (f1, f2) = FERRIERE_CC_HEIGHTS_KPC, FERRIERE_CC_FRACTIONS
    return f1 * np.exp(-((z / h1) ** 2)) + f2 * np.exp(-((z / h2) ** 2))


class FerriereSupernovaSource:
    """Supernovae of Ferrière 2001 (Rev. Mod. Phys. 73, 1031; docs/sources.md §2): Type Ia 7.3 kpc⁻³ Myr⁻¹
    × exp(−(R − R⊙)/4.5 kpc − |z|/0.325 kpc), core collapse 50 kpc⁻³ Myr⁻¹ × her radial factor × [0.79
    exp(−(z/0.212)²) + 0.21 exp(−(z/0.636)²)] (R⊙ = 8.5 kpc, z in kpc); 'total' is their sum.  Normalised
    over R < R_cut, |z| < H; drawn exactly as the mixture of the two populations."""

    axisymmetric = True

    def __init__(self, population, halo_height_kpc, R_cut_kpc):
        if population not in SNR_POPULATIONS:
            raise ValueError(
                f"population = {population!r}: must be one of {', '.join(map(repr, SNR_POPULATIONS))}"
            )
        self.population = population
        self.H, self.R_cut_kpc = float(halo_height_kpc), float(R_cut_kpc)
        H = self.H
        self._ia = _RadialDraw(_ferriere_ia_radial_np, self.R_cut_kpc)
        self._cc = _RadialDraw(_ferriere_cc_radial_np, self.R_cut_kpc, breaks=(FERRIERE_CC_RING_KPC,))
        hz = FERRIERE_IA_HEIGHT_KPC
        (h1, h2), (f1, f2) = FERRIERE_CC_HEIGHTS_KPC, FERRIERE_CC_FRACTIONS
        z_ia = 2.0 * hz * (1.0 - math.exp(-H / hz))  # ∫ exp(−|z|/h) dz over |z| < H
        self._cc_parts = np.array([f1 * h1 * math.erf(H / h1), f2 * h2 * math.erf(H / h2)]) * math.sqrt(
            math.pi
        )
        amp_ia = FERRIERE_IA_RATE if population in ("type_ia", "total") else 0.0
        amp_cc = FERRIERE_CC_RATE if population in ("core_collapse", "total") else 0.0
        part_ia = amp_ia * self._ia.norm * z_ia
        part_cc = amp_cc * self._cc.norm * float(self._cc_parts.sum())
        total = part_ia + part_cc
        self.c_ia, self.c_cc = amp_ia / total, amp_cc / total
        self.fraction_ia = part_ia / total

    def pdf(self, x, y, z):
        """Normalised source density [kpc⁻³] (numpy; the kernel's ``source_density`` is its twin)."""
        x, y, z = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x, y, z)))
        R = np.hypot(x, y)
        ia = np.exp(-(R - FERRIERE_R_SUN_KPC) / FERRIERE_IA_LENGTH_KPC - np.abs(z) / FERRIERE_IA_HEIGHT_KPC)
        cc = _ferriere_cc_radial_np(R) * _ferriere_cc_vertical_np(z)
        inside = (R < self.R_cut_kpc) & (np.abs(z) < self.H)
        return np.where(inside, self.c_ia * ia + self.c_cc * cc, 0.0)

    def density_params(self):
        """(kind, parameters) of this density for the kernel (``source_density``)."""
        p = [self.R_cut_kpc, self.H, FERRIERE_R_SUN_KPC, self.c_ia, self.c_cc]
        return SOURCE_SNR, np.array(p, dtype=float)

    def sample_positions(self, rng, n):
        ia = rng.random(n) < self.fraction_ia
        m = int(ia.sum())
        R = np.empty(n)
        z = np.empty(n)
        R[ia] = self._ia.sample(rng, m)
        z[ia] = _sample_z(rng, m, "exponential", FERRIERE_IA_HEIGHT_KPC, self.H)
        R[~ia] = self._cc.sample(rng, n - m)
        wide = rng.random(n - m) < self._cc_parts[1] / self._cc_parts.sum()
        zc = np.empty(n - m)
        for flag, h in ((False, FERRIERE_CC_HEIGHTS_KPC[0]), (True, FERRIERE_CC_HEIGHTS_KPC[1])):
            sel = wide == flag
            zc[sel] = _sample_z(rng, int(sel.sum()), "gaussian", h / math.sqrt(2.0), self.H)
        z[~ia] = zc
        phi = rng.uniform(0.0, 2.0 * np.pi, n)
        return R * np.cos(phi), R * np.sin(phi), z


def spiral_source(s, galaxy):
    """The spiral-arm source of a [source] type = 'spiral_arms' section (``s``) in ``galaxy``."""
    rcut = s.R_cut_kpc if s.R_cut_kpc is not None else galaxy.radius_max_kpc
    common = dict(
        arm_weights=tuple(s.arm_weights),
        interarm_fraction=s.interarm_fraction,
        rotation_deg=s.rotation_deg,
        scale_to_sun=s.scale_to_sun,
    )
    optional = {"radial_a": s.radial_a, "radial_b": s.radial_b, "z0_kpc": s.z0_kpc}
    common.update({k: v for k, v in optional.items() if v is not None})
    if s.model == "faucher_giguere_kaspi06":
        if s.arm_width_fraction is not None:
            common["arm_width_fraction"] = s.arm_width_fraction
        if s.centre_blur is not None:
            common["centre_blur"] = s.centre_blur
        return FaucherGiguereKaspiSource(galaxy.sun_position_kpc, galaxy.halo_height_kpc, rcut, **common)
    if s.arm_width_deg is not None:
        common["arm_width_deg"] = s.arm_width_deg
    return SteimanCameronSource(galaxy.sun_position_kpc, galaxy.halo_height_kpc, rcut, **common)


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

    @property
    def energy_dependent(self):
        return getattr(self.base, "energy_dependent", False)

    def sample_positions(self, rng, n):
        return self.sample_weighted(rng, n)[:3]

    def sample_weighted(self, rng, n, energies_GeV=None):
        """Positions (kpc) and weights of n particles (of kinetic energies ``energies_GeV``, needed when the
        source's density depends on the energy)."""
        local = rng.random(n) < self.fraction
        if self.energy_dependent:
            if energies_GeV is None:
                raise ValueError("this source's density depends on the energy: give energies_GeV")
            drawn = self.base.sample_positions_at(rng, energies_GeV)
        else:
            drawn = self.base.sample_positions(rng, n)
        x, y, z = (np.asarray(a, dtype=float).copy() for a in drawn)
        todo = np.flatnonzero(local)
        while todo.size:  # the part of the ball outside the halo has f = 0: redraw (g is renormalised below)
            p, ok = self._ball_points(rng, todo.size)
            x[todo[ok]], y[todo[ok]], z[todo[ok]] = p[ok, 0], p[ok, 1], p[ok, 2]
            todo = todo[~ok]
        f = self.base.pdf(x, y, z, energies_GeV) if self.energy_dependent else self.base.pdf(x, y, z)
        g = self._ball_pdf(x, y, z) / self._inside_fraction
        w = f / ((1.0 - self.fraction) * f + self.fraction * g)
        return x, y, z, w


def build_source(cfg, grid=None):
    """The spatial source of a configuration (with its observer bias, if configured).  A 'gridded' source
    needs its file's arrays as ``grid`` (``sdeprop.io.read_source_grid(cfg.source)``: models read no
    files)."""
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
    elif s.type == "spiral_arms":
        base = spiral_source(s, cfg.galaxy)
    elif s.type == "snr":
        rcut = s.R_cut_kpc if s.R_cut_kpc is not None else cfg.galaxy.radius_max_kpc
        base = FerriereSupernovaSource(s.population, H, rcut)
    elif s.type == "gridded":
        if grid is None:
            raise ValueError(
                "source.type = 'gridded' needs the arrays of source.file: build_source(cfg, "
                "grid=sdeprop.io.read_source_grid(cfg.source))"
            )
        base = grid_source(grid["geometry"], grid["axes"], grid["values"], grid.get("energies_GeV"))
        base.check_inside_halo(H, cfg.galaxy.radius_max_kpc)
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
