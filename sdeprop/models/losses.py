"""Continuous energy losses b(x, E) = −dE/dt, applied by the kernel as a drift in energy.

The kernel asks for one number per step, the loss coefficient q = b/E² [GeV⁻¹ Myr⁻¹] at the
particle (E the kinetic energy), and updates E → E/(1 + q E dt): exact over the step when
b ∝ E² with q frozen at the step's start, never negative, and first order otherwise, with the
step held below ``time.loss_fraction`` of the loss time E/b (docs/design.md §2).

Models (integer tags, so the kernel never branches on strings):

* ``LOSS_NONE``: no losses.
* ``LOSS_QUADRATIC``: b = b0 E², uniform (the Syrovatskii form, docs/physics.md §8.5).
* ``LOSS_GALACTIC``: the sum of the switched-on processes of :mod:`.loss_processes`:

  - synchrotron, evaluated at every step from the field the kernel has just computed,
    B² = |B_reg|² + δB_rms² (coherent model plus ``[turbulence]``, δB_rms² from a trilinear
    Cartesian table sampled at set-up), or a configured constant;
  - everything that depends on the axisymmetric gas and radiation models (inverse Compton
    with Klein–Nishina suppression, bremsstrahlung, ionisation/Coulomb, pion production).
    Each of these is linear in a density (or, for the Coulomb logarithm, n ln n), so their sum
    separates exactly into  Σ_k c_k(R, z) g_k(E)  with a few "channels" k: uniform radiation,
    each spatially varying radiation component U_i(R, z), neutral hydrogen n_H, ionised
    hydrogen n_HII and n_HII ln n_HII.  The densities c_k are tabulated once on an (R, z) grid
    (uniform in R and in z/(|z| + a), so that the thin molecular layer is resolved) and
    the energy functions g_k/E² on a grid in ln E; the kernel interpolates both linearly.
    ``kernel_loss_rate`` gives the tabulated rate for comparison with ``LossModel.total_rate``
    (``benchmarks/loss_table_accuracy.py``, docs/losses.md).

Parameter layout of the float array (all models): see the ``P_*`` offsets below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from ..errors import ConfigError
from ..units import MYR_S
from . import loss_processes as lp
from .diffusion import SPECIES
from .field import evaluate_field
from .gas import build_gas, evaluate_gas
from .isrf import evaluate_isrf, isrf_from_config, isrf_n_components, isrf_temperature_K
from .turbulence import evaluate_turbulence

LOSS_NONE = 0
LOSS_QUADRATIC = 1
LOSS_GALACTIC = 2

# header of the parameter array
(
    P_B0,
    P_SYNC,
    P_MASS,
    P_B2_FIXED,
    P_DB2_CONST,
    P_NCH,
    P_NR,
    P_INV_DR,
    P_NU,
    P_Z_SCALE,
    P_UMIN,
    P_INV_DU,
    P_NE,
    P_LNE_MIN,
    P_INV_DLNE,
    P_OFF_SPACE,
    P_OFF_ENERGY,
    P_OFF_TURB,
    P_T_NXY,
    P_T_NZ,
    P_T_INV,
    P_T_X0,
    P_T_Z0,
    P_UNIFORM0,
) = range(24)
N_LOSS_HEADER = 24

TABLE_Z_SCALE_KPC = 0.25
"""a of the loss table's vertical coordinate u = z/(|z| + a) [kpc]: nodes uniform in u are
spaced ∝ (|z| + a)², fine in the gas layers and coarse high in the halo."""

ELECTRON_LOSS_PROCESSES = ("synchrotron", "inverse_compton", "bremsstrahlung", "coulomb_ionisation")
"""The processes of e± (and their default for losses.model = 'galactic')."""
PROTON_LOSS_PROCESSES = ("coulomb_ionisation", "pion_production")
"""The processes of protons (their default below energy.min_GeV = 10; none above)."""


def loss_processes_of(species: str) -> tuple[str, ...]:
    """Every loss process this module computes for ``species`` ('proton', 'electron', 'positron')."""
    return PROTON_LOSS_PROCESSES if species == "proton" else ELECTRON_LOSS_PROCESSES


def check_loss_processes(species: str, processes) -> None:
    """ValueError naming the first of ``processes`` that ``species`` does not have."""
    allowed = loss_processes_of(species)
    for name in processes:
        if name not in allowed:
            raise ValueError(
                f"'{name}' is not a loss process of species '{species}'; allowed: {list(allowed)}"
            )


def active_loss_processes(cfg) -> tuple[str, ...]:
    """The processes of losses.model = 'galactic' after the species defaults are applied (``cfg``: a
    validated configuration, read through cfg.losses, cfg.species.name and cfg.energy.min_GeV)."""
    if cfg.losses.model != "galactic":
        return ()
    if cfg.losses.processes is not None:
        return tuple(dict.fromkeys(cfg.losses.processes))
    if cfg.species.name == "proton":
        return PROTON_LOSS_PROCESSES if cfg.energy.min_GeV < 10.0 else ()
    return ELECTRON_LOSS_PROCESSES


IC_KINDS = {
    "thomson": lp.IC_THOMSON,
    "moderski05": lp.IC_KN_MODERSKI,
    "fang21": lp.IC_KN_FANG,
    "khangulyan14": lp.IC_KN_KAK14,
}


@njit(cache=True, inline="always", error_model="numpy")
def _axis(value, lo, inv, n):
    """Index i and weight w of ``value`` on a uniform axis of n nodes (clamped to the ends)."""
    a = (value - lo) * inv
    if a <= 0.0:
        return 0, 0.0
    if a >= n - 1:
        return n - 2, 1.0
    i = int(a)
    return i, a - i


@njit(cache=True, inline="always", error_model="numpy")
def tabulated_coefficient(p, r, z, ln_e):
    """Σ_k c_k(R, z) g_k(E)/E² [GeV⁻¹ Myr⁻¹], bilinear in (R, z/(|z| + a)) and linear in ln E.

    Channel 0 may be spatially uniform (flag P_UNIFORM0): its density is 1 and is not looked up.
    """
    nch = int(p[P_NCH])
    if nch == 0:
        return 0.0
    ie, we = _axis(ln_e, p[P_LNE_MIN], p[P_INV_DLNE], int(p[P_NE]))
    g = int(p[P_OFF_ENERGY]) + ie * nch
    total = 0.0
    k0 = 0
    if p[P_UNIFORM0] != 0.0:
        total = (1.0 - we) * p[g] + we * p[g + nch]
        k0 = 1
    if k0 < nch:
        nu = int(p[P_NU])
        ir, wr = _axis(r, 0.0, p[P_INV_DR], int(p[P_NR]))
        iu, wu = _axis(z / (abs(z) + p[P_Z_SCALE]), p[P_UMIN], p[P_INV_DU], nu)
        s = int(p[P_OFF_SPACE]) + (ir * nu + iu) * nch
        row = nu * nch
        w00 = (1.0 - wr) * (1.0 - wu)
        w01 = (1.0 - wr) * wu
        w10 = wr * (1.0 - wu)
        w11 = wr * wu
        for k in range(k0, nch):
            c = w00 * p[s + k] + w01 * p[s + nch + k] + w10 * p[s + row + k] + w11 * p[s + row + nch + k]
            total += c * ((1.0 - we) * p[g + k] + we * p[g + nch + k])
    return total if total > 0.0 else 0.0


@njit(cache=True, inline="always", error_model="numpy")
def _turbulence_squared(p, x, y, z):
    """δB_rms² [μG²] from the trilinear Cartesian table (0 outside it)."""
    n = int(p[P_T_NXY])
    nz = int(p[P_T_NZ])
    inv = p[P_T_INV]
    ax = (x - p[P_T_X0]) * inv
    ay = (y - p[P_T_X0]) * inv
    az = (z - p[P_T_Z0]) * inv
    if ax < 0.0 or ay < 0.0 or az < 0.0 or ax >= n - 1 or ay >= n - 1 or az >= nz - 1:
        return 0.0
    i = int(ax)
    j = int(ay)
    k = int(az)
    wx = ax - i
    wy = ay - j
    wz = az - k
    # trilinear, as field.trilinear but on the flat parameter array: a reshaped view of the table
    # made at every step cost 4-5 % of the loss-on step rate (benchmarks/losses.py)
    o = int(p[P_OFF_TURB]) + (i * n + j) * nz + k
    sy = nz
    sx = n * nz
    c00 = p[o] + wz * (p[o + 1] - p[o])
    c01 = p[o + sy] + wz * (p[o + sy + 1] - p[o + sy])
    c10 = p[o + sx] + wz * (p[o + sx + 1] - p[o + sx])
    c11 = p[o + sx + sy] + wz * (p[o + sx + sy + 1] - p[o + sx + sy])
    c0 = c00 + wy * (c01 - c00)
    c1 = c10 + wy * (c11 - c10)
    return c0 + wx * (c1 - c0)


@njit(cache=True, error_model="numpy")
def loss_coefficient(kind, p, x, y, z, r, kinetic_GeV, ln_e, b_reg2_uG2):
    """q = b/E² [GeV⁻¹ Myr⁻¹] at (x, y, z) [kpc] (r = sqrt(x² + y²)) and kinetic energy E [GeV].

    ``b_reg2_uG2`` is the coherent field |B|² [μG²] at the point (used by synchrotron).
    """
    if kind == LOSS_QUADRATIC:
        return p[P_B0]
    if kind != LOSS_GALACTIC:
        return 0.0
    q = tabulated_coefficient(p, r, z, ln_e)
    if p[P_SYNC] > 0.0:
        b2 = p[P_B2_FIXED]
        if b2 < 0.0:
            b2 = b_reg2_uG2 + p[P_DB2_CONST]
            if p[P_OFF_TURB] > 0.0:
                b2 += _turbulence_squared(p, x, y, z)
        # (4/3) σ_T c U_B γ²β², with γ²β²/E² = (1 + 2m/E)/m²
        q += p[P_SYNC] * b2 * (1.0 + 2.0 * p[P_MASS] / kinetic_GeV)
    return q


# --------------------------------------------------------------------------- the Python model
@dataclass
class LossModel:
    """The loss processes of a configuration, evaluated directly (rates per process) and packed
    into the kernel's parameter array.

    Energies are kinetic [GeV]; rates b = −dE/dt in GeV s⁻¹.
    """

    processes: tuple[str, ...]
    species: str
    mass_GeV: float
    klein_nishina: str
    isrf_p: np.ndarray
    gas_p: np.ndarray
    helium_ratio: float
    electron_temperature_K: float
    pion_inelasticity: float
    magnetic_field_uG: float | None
    field_cfg: object = None
    turbulence_cfg: object = None
    field_grid: object = None

    @classmethod
    def from_config(cls, cfg, field_grid=None) -> LossModel:
        """The loss model of a validated configuration.  ``field_grid``: the arrays of a 'grid' field
        model (``sdeprop.io.read_field_grid``), needed only to evaluate synchrotron rates directly."""
        lc = cfg.losses
        isrf = isrf_from_config(lc.isrf)
        gas = build_gas(
            lc.gas.xco,
            xco_value=lc.gas.xco_value,
            scale_HI=lc.gas.scale_HI,
            scale_H2=lc.gas.scale_H2,
            scale_HII=lc.gas.scale_HII,
        )
        return cls(
            active_loss_processes(cfg),
            cfg.species.name,
            SPECIES[cfg.species.name][0],
            lc.klein_nishina,
            isrf,
            gas,
            lc.gas.helium_ratio,
            lc.gas.electron_temperature_K,
            lc.pion_inelasticity,
            lc.magnetic_field_uG,
            cfg.field,
            cfg.turbulence,
            field_grid,
        )

    # ---------------------------------------------------------------- direct evaluation
    def magnetic_field_squared_uG2(self, points_kpc) -> np.ndarray:
        """Total B² [μG²] seen by synchrotron at the rows of ``points_kpc``."""
        pts = np.atleast_2d(np.asarray(points_kpc, dtype=float))
        if self.magnetic_field_uG is not None:
            return np.full(len(pts), self.magnetic_field_uG**2)
        b = evaluate_field(self.field_cfg, pts, grid_file=self.field_grid)[0]
        return np.sum(b * b, axis=1) + evaluate_turbulence(self.turbulence_cfg, pts) ** 2

    def _densities(self, pts):
        gas = evaluate_gas(self.gas_p, pts)
        n_h = gas[:, 0] + 2.0 * gas[:, 1]
        return n_h, self.helium_ratio * n_h, gas[:, 2]

    def rates(self, position_kpc, kinetic_GeV, processes=None) -> dict[str, np.ndarray]:
        """b = −dE/dt [GeV s⁻¹] of each process at one position, on the energies ``kinetic_GeV``."""
        e = np.atleast_1d(np.asarray(kinetic_GeV, dtype=float))
        pt = np.asarray(position_kpc, dtype=float).reshape(1, 3)
        x, y, z = pt[0]
        n_h, n_he, n_hii = (float(a[0]) for a in self._densities(pt))
        out = {}
        for name in processes or self.processes:
            out[name] = _rates_of(name, self, e, pt, x, y, z, n_h, n_he, n_hii)
        return out

    def total_rate(self, position_kpc, kinetic_GeV) -> np.ndarray:
        """Sum of the active processes [GeV s⁻¹]."""
        e = np.atleast_1d(np.asarray(kinetic_GeV, dtype=float))
        return sum(self.rates(position_kpc, e).values(), np.zeros_like(e))

    # ---------------------------------------------------------------- the separable table
    def channels(self):
        """(names, spatial density functions, energy functions) of the non-synchrotron processes.

        Returns a list of (name, c(points) -> array, g(E_kinetic) -> b [GeV s⁻¹] per unit c).
        """
        tabulated = [p for p in self.processes if p != "synchrotron"]
        if not tabulated:
            return []
        isrf = self.isrf_p
        n_isrf = isrf_n_components(isrf)
        kind = IC_KINDS[self.klein_nishina]
        lepton = self.species != "proton"
        m = self.mass_GeV
        he = self.helium_ratio
        chans = []
        if "inverse_compton" in tabulated:
            uniform, varying = [], []
            for i in range(n_isrf):
                k = 2 + 4 * i
                (uniform if isrf[k + 2] == 0.0 and isrf[k + 3] == 0.0 else varying).append(i)
            if uniform:
                comps = [(isrf_temperature_K(isrf, i), isrf[2 + 4 * i + 1]) for i in uniform]
                chans.append(
                    (
                        UNIFORM_CHANNEL,
                        lambda pts: np.ones(len(pts)),
                        lambda e, comps=comps: sum(
                            _vec(lp.ic_loss_greybody, e + m, t, u, kind) for t, u in comps
                        ),
                    )
                )
            for i in varying:
                t = isrf_temperature_K(isrf, i)
                chans.append(
                    (
                        f"radiation U_{i}",
                        lambda pts, i=i: evaluate_isrf(isrf, pts)[:, i],
                        lambda e, t=t: _vec(lp.ic_loss_greybody, e + m, t, 1.0, kind),
                    )
                )
        g_h = []  # per unit n_H (neutral nuclei, with n_He = he n_H)
        g_ion = []  # per unit n_HII
        g_ion_log = []  # per unit n_HII ln n_HII
        if lepton:
            if "bremsstrahlung" in tabulated:
                g_h.append(lambda e: _vec(lp.bremsstrahlung_neutral_loss, e + m, 1.0, he))
                g_ion.append(lambda e: _vec(lp.bremsstrahlung_ionized_loss, e + m, 1.0))
            if "coulomb_ionisation" in tabulated:
                g_h.append(lambda e: _vec(lp.ionization_loss_electron, e + m, 1.0, he))
                g_ion.append(lambda e: _vec(lp.coulomb_loss_electron, e + m, 1.0))
                g_ion_log.append(lambda e: _log_part(lambda n: _vec(lp.coulomb_loss_electron, e + m, n), e))
        else:
            te = self.electron_temperature_K
            if "coulomb_ionisation" in tabulated:
                g_h.append(lambda e: _vec(lp.ionization_loss_nucleus, e, 1.0, he, 1.0, 1.0))
                g_ion.append(lambda e: _vec(lp.coulomb_loss_nucleus, e, 1.0, 1.0, 1.0, te))
                g_ion_log.append(
                    lambda e: _log_part(lambda n: _vec(lp.coulomb_loss_nucleus, e, n, 1.0, 1.0, te), e)
                )
            if "pion_production" in tabulated:
                kap = self.pion_inelasticity
                g_h.append(lambda e: _vec(lp.pion_loss_proton, e, 1.0, kap))
                g_ion.append(lambda e: _vec(lp.pion_loss_proton, e, 1.0, kap))

        def total(funcs):
            return lambda e: sum(f(e) for f in funcs)

        if g_h:
            chans.append(("n_H", lambda pts: self._densities(pts)[0], total(g_h)))
        if g_ion:
            chans.append(("n_HII", lambda pts: self._densities(pts)[2], total(g_ion)))
        if g_ion_log:

            def nlogn(pts):
                n = self._densities(pts)[2]
                return n * np.log(np.where(n > 0.0, n, 1.0))

            chans.append(("n_HII ln n_HII", nlogn, total(g_ion_log)))
        return chans

    def pack(
        self,
        *,
        energy_min_GeV,
        energy_max_GeV,
        radius_max_kpc,
        halo_height_kpc,
        points_per_decade=32,
        R_spacing_kpc=0.05,
        z_resolution_kpc=0.0025,
        turbulence_spacing_kpc=0.2,
    ) -> np.ndarray:
        """The kernel's parameter array for LOSS_GALACTIC: header, the separable table of the
        gas and radiation processes, and the δB_rms² table for synchrotron."""
        chans = self.channels()
        nch = len(chans)
        head = np.zeros(N_LOSS_HEADER)
        head[P_MASS] = self.mass_GeV
        head[P_B2_FIXED] = -1.0 if self.magnetic_field_uG is None else self.magnetic_field_uG**2
        if "synchrotron" in self.processes:
            head[P_SYNC] = lp.THOMSON_COEFF * lp.U_B_EV_CM3_PER_UG2 * MYR_S / self.mass_GeV**2
        head[P_NCH] = nch
        blocks = [head]
        offset = N_LOSS_HEADER
        if nch:
            blocks += separable_table(
                head,
                chans,
                lambda e: MYR_S / e**2,
                energy_min_GeV=energy_min_GeV,
                energy_max_GeV=energy_max_GeV,
                radius_max_kpc=radius_max_kpc,
                halo_height_kpc=halo_height_kpc,
                points_per_decade=points_per_decade,
                R_spacing_kpc=R_spacing_kpc,
                z_resolution_kpc=z_resolution_kpc,
            )
            offset = N_LOSS_HEADER + sum(b.size for b in blocks[1:])
        if "synchrotron" in self.processes and self.magnetic_field_uG is None:
            tc = self.turbulence_cfg
            if tc.model == "constant":
                head[P_DB2_CONST] = (tc.scale * tc.rms_uG) ** 2
            elif tc.model != "none":
                grid = turbulence_grid(tc, radius_max_kpc, halo_height_kpc, turbulence_spacing_kpc)
                n, nz = grid.shape[0], grid.shape[2]
                head[P_OFF_TURB], head[P_T_NXY], head[P_T_NZ] = offset, n, nz
                head[P_T_INV], head[P_T_X0], head[P_T_Z0] = (
                    (n - 1) / (2.0 * radius_max_kpc),
                    -radius_max_kpc,
                    -halo_height_kpc,
                )
                blocks.append(grid.ravel())
        return np.concatenate(blocks)


def separable_table(
    head,
    chans,
    energy_factor,
    *,
    energy_min_GeV,
    energy_max_GeV,
    radius_max_kpc,
    halo_height_kpc,
    points_per_decade,
    R_spacing_kpc,
    z_resolution_kpc,
) -> list[np.ndarray]:
    """The blocks of a separable table Σ_k c_k(R, z) g_k(E) × energy_factor(E), read by
    :func:`tabulated_coefficient`; fills the table part of ``head`` (a P_* header, offsets counted
    from its end).  ``chans``: (name, c(points), g(E)) as :meth:`LossModel.channels` gives them."""
    nr = max(2, int(math.ceil(radius_max_kpc / R_spacing_kpc)) + 1)
    dr = radius_max_kpc / (nr - 1)
    a = TABLE_Z_SCALE_KPC
    umax = halo_height_kpc / (halo_height_kpc + a)
    du = z_resolution_kpc / a
    nu = max(2, int(math.ceil(2.0 * umax / du)) + 1)
    u_nodes = np.linspace(-umax, umax, nu)
    z_nodes = a * u_nodes / (1.0 - np.abs(u_nodes))  # inverse of u = z/(|z| + a)
    rr, zz = np.meshgrid(np.arange(nr) * dr, z_nodes, indexing="ij")
    pts = np.column_stack([rr.ravel(), np.zeros(rr.size), zz.ravel()])
    space = np.column_stack([c(pts) for _, c, _ in chans])  # (nr*nu, nch), R outer, z inner
    lo, hi = math.log(energy_min_GeV), math.log(energy_max_GeV)
    ne = max(2, int(math.ceil((hi - lo) / math.log(10.0) * points_per_decade)) + 1)
    e_nodes = np.exp(np.linspace(lo, hi, ne))
    energy = np.column_stack([g(e_nodes) * energy_factor(e_nodes) for _, _, g in chans])
    if not (np.all(np.isfinite(space)) and np.all(np.isfinite(energy))):
        raise ValueError("the rate table has non-finite entries; check the gas and radiation parameters")
    head[P_NCH] = len(chans)
    head[P_UNIFORM0] = float(chans[0][0] == UNIFORM_CHANNEL)
    head[P_NR], head[P_INV_DR] = nr, 1.0 / dr
    head[P_NU], head[P_Z_SCALE], head[P_UMIN], head[P_INV_DU] = nu, a, -umax, (nu - 1) / (2.0 * umax)
    head[P_NE], head[P_LNE_MIN], head[P_INV_DLNE] = ne, lo, (ne - 1) / (hi - lo)
    head[P_OFF_SPACE] = N_LOSS_HEADER
    head[P_OFF_ENERGY] = N_LOSS_HEADER + space.size
    return [space.ravel(), energy.ravel()]


UNIFORM_CHANNEL = "radiation (uniform)"


def turbulence_grid(turbulence_cfg, radius_max_kpc, halo_height_kpc, spacing_kpc) -> np.ndarray:
    """δB_rms² [μG²] on a Cartesian grid over |x|, |y| ≤ R_max, |z| ≤ H (node spacing ≤ ``spacing_kpc``)."""
    n = int(math.ceil(2.0 * radius_max_kpc / spacing_kpc)) + 1
    nz = int(math.ceil(2.0 * halo_height_kpc * (n - 1) / (2.0 * radius_max_kpc))) + 1
    xs = np.linspace(-radius_max_kpc, radius_max_kpc, n)
    zs = -halo_height_kpc + np.arange(nz) * (xs[1] - xs[0])
    gx, gy, gz = np.meshgrid(xs, xs, zs, indexing="ij")
    db = evaluate_turbulence(turbulence_cfg, np.column_stack([gx.ravel(), gy.ravel(), gz.ravel()]))
    return (db * db).reshape(n, n, nz)


def _vec(func, e, *args):
    """Apply a scalar njit rate function over an energy array."""
    return np.array([func(float(v), *args) for v in np.atleast_1d(e)])


def _log_part(rate_of_density, e):
    """For b(n) = n F − n ln n G (Coulomb logarithm), −G = b(e)/e − b(1) per unit n ln n."""
    return rate_of_density(math.e) / math.e - rate_of_density(1.0)


def _rates_of(name, model, e, pt, x, y, z, n_h, n_he, n_hii):
    """Direct rate of one process [GeV s⁻¹] on the kinetic energies ``e``."""
    m = model.mass_GeV
    if model.species != "proton":
        etot = e + m
        if name == "synchrotron":
            return _vec(lp.synchrotron_loss, etot, float(model.magnetic_field_squared_uG2(pt)[0]))
        if name == "inverse_compton":
            return _vec(lp.ic_loss_isrf, etot, model.isrf_p, x, y, z, IC_KINDS[model.klein_nishina])
        if name == "bremsstrahlung":
            return _vec(lp.bremsstrahlung_neutral_loss, etot, n_h, n_he) + _vec(
                lp.bremsstrahlung_ionized_loss, etot, n_hii
            )
        if name == "coulomb_ionisation":
            return _vec(lp.ionization_loss_electron, etot, n_h, n_he) + _vec(
                lp.coulomb_loss_electron, etot, n_hii
            )
    else:
        if name == "coulomb_ionisation":
            return _vec(lp.ionization_loss_nucleus, e, n_h, n_he, 1.0, 1.0) + _vec(
                lp.coulomb_loss_nucleus, e, n_hii, 1.0, 1.0, model.electron_temperature_K
            )
        if name == "pion_production":
            return _vec(lp.pion_loss_proton, e, n_h + n_hii, model.pion_inelasticity)
    raise ValueError(f"'{name}' is not a loss process of species '{model.species}'")


def build_losses(cfg, energy_floor_GeV: float) -> tuple[int, np.ndarray]:
    """Turn the configuration's [losses] into (kind, params) for the kernel.

    ``energy_floor_GeV``: the lowest energy a particle can have (the loss table starts there).
    """
    lc = cfg.losses
    p = np.zeros(N_LOSS_HEADER)
    if lc.model == "none":
        return LOSS_NONE, p
    if lc.model == "quadratic":
        p[P_B0] = lc.b0_per_GeV_per_s * MYR_S
        return LOSS_QUADRATIC, p
    model = LossModel.from_config(cfg)
    if not model.processes:
        return LOSS_NONE, p
    _check_table_memory(cfg, model)
    packed = model.pack(
        energy_min_GeV=energy_floor_GeV / 1.05,
        energy_max_GeV=cfg.energy.max_GeV * 1.05,
        radius_max_kpc=cfg.galaxy.radius_max_kpc,
        halo_height_kpc=cfg.galaxy.halo_height_kpc,
        points_per_decade=lc.table_points_per_decade,
        R_spacing_kpc=lc.table_R_spacing_kpc,
        z_resolution_kpc=lc.table_z_resolution_kpc,
        turbulence_spacing_kpc=lc.table_turbulence_spacing_kpc,
    )
    return LOSS_GALACTIC, packed


def _check_table_memory(cfg, model):
    """Refuse loss tables larger than run.memory_budget_GiB before building them."""
    lc, g = cfg.losses, cfg.galaxy
    n = 0
    nch = len(model.channels())  # cheap: the channels are functions, evaluated only by pack()
    if nch:
        nr = math.ceil(g.radius_max_kpc / lc.table_R_spacing_kpc) + 1
        nu = (
            math.ceil(
                2.0
                * g.halo_height_kpc
                / (g.halo_height_kpc + TABLE_Z_SCALE_KPC)
                * TABLE_Z_SCALE_KPC
                / lc.table_z_resolution_kpc
            )
            + 1
        )
        n += nr * nu * nch
    if (
        "synchrotron" in model.processes
        and lc.magnetic_field_uG is None
        and cfg.turbulence.model not in ("none", "constant")
    ):
        nxy = math.ceil(2.0 * g.radius_max_kpc / lc.table_turbulence_spacing_kpc) + 1
        n += nxy * nxy * (math.ceil(2.0 * g.halo_height_kpc / lc.table_turbulence_spacing_kpc) + 1)
    need = 8 * n
    if need > cfg.run.memory_budget_GiB * 2**30:
        raise ConfigError(
            f"the loss tables need {need / 2**30:.3g} GiB, above run.memory_budget_GiB = "
            f"{cfg.run.memory_budget_GiB}; "
            "use a coarser losses.table_turbulence_spacing_kpc / table_R_spacing_kpc / table_z_resolution_kpc"
        )


@njit(cache=True)
def _kernel_rates(kind, p, pts, e, b_reg2):
    out = np.empty(pts.shape[0])
    for n in range(pts.shape[0]):
        x, y, z = pts[n, 0], pts[n, 1], pts[n, 2]
        r = math.sqrt(x * x + y * y)
        out[n] = loss_coefficient(kind, p, x, y, z, r, e[n], math.log(e[n]), b_reg2[n]) * e[n] * e[n]
    return out


def kernel_loss_rate(cfg, points_kpc, kinetic_GeV, energy_floor_GeV=None, field_grid=None) -> np.ndarray:
    """b [GeV s⁻¹] as the kernel sees it (tabulated), at the rows of ``points_kpc`` and the matching
    kinetic energies; for checking the table against :meth:`LossModel.total_rate`.

    ``cfg``: a validated configuration (``sdeprop.load_config``); ``field_grid``: the arrays of a
    'grid' field model (``sdeprop.io.read_field_grid``)."""
    pts = np.atleast_2d(np.asarray(points_kpc, dtype=float))
    e = np.broadcast_to(np.asarray(kinetic_GeV, dtype=float), (len(pts),)).copy()
    floor = energy_floor_GeV if energy_floor_GeV is not None else float(e.min())
    kind, p = build_losses(cfg, floor)
    b = evaluate_field(cfg.field, pts, grid_file=field_grid)[0]
    return _kernel_rates(kind, p, pts, e, np.sum(b * b, axis=1)) / MYR_S
