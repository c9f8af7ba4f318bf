"""The local propagation horizon: how far a particle diffuses while it cools from E_s to E.

For continuous losses b(E) = −dE/dt and a diffusion tensor with principal values D∥ (along the
field direction b̂) and D⊥ (across it), a particle injected at E_s and observed at E < E_s has
spread, in an infinite homogeneous medium, into a Gaussian of widths

    λ_i²(E, E_s) = 4 ∫_E^{E_s} D_i(E′)/b(E′) dE′,   i = ∥, ⊥

(Syrovatskii 1959; the anisotropic form in docs/physics.md §8.5; Borisov & Kudryashov 2025 eq. 28):
the density kernel is exp(−x∥²/λ∥² − x⊥²/λ⊥²)/(π^{3/2} λ∥ λ⊥²).  For b = b0 E² and
D = D0 (E/E0)^δ the integral is  4 D0 E0^−δ (E^{δ−1} − E_s^{δ−1})/(b0 (1 − δ)).

:func:`propagation_horizon` evaluates this at one point of a configuration with the
configuration's own diffusion model and its loss rates *at that point*: the gas, radiation
and magnetic field are held at their local values along the whole path, and so is the field
direction.  It is the **local horizon** — the distance over which the local conditions would
have to persist for the Gaussian to be exact.  Where λ is comparable with the scale on which
the field direction or the loss rates change (≲ 1 kpc in the disc), or with the distance to
the halo boundary, it is an order-of-magnitude guide, not a solution; the Monte Carlo is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import load_config
from .io import read_field_grid
from .models.diffusion import diffusion_at
from .models.field import evaluate_field
from .models.gas import build_gas, evaluate_gas
from .models.isrf import build_isrf, evaluate_isrf, isrf_n_components, isrf_temperature_K
from .models.losses import LossModel, active_loss_processes, kernel_loss_rate
from .models.turbulence import evaluate_turbulence
from .units import MYR_S

__all__ = [
    "HorizonResult",
    "LossTable",
    "decade_energies",
    "kernel_total_loss_rate",
    "local_environment",
    "local_loss_rates",
    "loss_table",
    "propagation_horizon",
    "validate_position",
]

_GL_NODES = 8  # Gauss–Legendre nodes per panel
_INF_START_FACTOR = 1.0e3  # the ∞-limit integrates up to E_cut ≥ 10³ × the highest energy asked for ...
_INF_MIN_CUT_GEV = 1.0e6  # ... and at least 1 PeV; above E_cut the integrand is extrapolated as a power law
_INF_MAX_CUT_GEV = 1.0e16
_INF_TAIL_TARGET = 1.0e-3  # extend E_cut until the extrapolated tail is below this share of λ²
_INF_MIN_SLOPE = 0.02  # the tail converges only if 4 D E/b falls at least as E^-0.02


@dataclass(frozen=True)
class HorizonResult:
    """Local propagation horizon at one point (lengths in kpc, energies kinetic in GeV).

    ``lambda_par_kpc`` is along the local field direction ``direction`` (b̂ = B/|B|),
    ``lambda_perp_kpc`` across it, ``lambda_z_kpc`` the width along z (λ_z² = λ⊥² +
    (λ∥² − λ⊥²) b_z²; compare it with the distance to the halo boundary).  Entries are 0 at
    E = E_s and NaN above E_s.
    """

    energy_GeV: np.ndarray
    source_energy_GeV: float
    """E_s: the configuration's energy.max_GeV by default, ``math.inf`` for the ∞-limit."""
    position_kpc: np.ndarray
    species: str
    lambda_par_kpc: np.ndarray
    lambda_perp_kpc: np.ndarray
    lambda_z_kpc: np.ndarray
    field_uG: np.ndarray
    """The regular field B at the point [μG]."""
    direction: np.ndarray
    """b̂ = B/|B| (NaN where B = 0: then λ∥ = λ⊥)."""
    alignment: float
    """|b|² = |B|²/(|B|² + B_f²), B_f = numerics.field_floor_uG: the kernel's tensor is
    D⊥ I + (D∥ − D⊥) b bᵀ, so the principal value along b̂ is D⊥ + (D∥ − D⊥)|b|² (= D∥ unless
    |B| is near the floor); λ∥ uses it."""
    tail_fraction: float
    """∞-limit only: the share of λ∥² at the highest energy that comes from the power-law
    extrapolation of the integrand above ``cut_GeV`` (0 for a finite E_s)."""
    cut_GeV: float
    """Upper end of the numerical quadrature (= E_s when finite)."""
    tail_slope: float
    """∞-limit only: s in 4 D∥ E/b ∝ E^−s above ``cut_GeV`` (NaN for a finite E_s)."""
    relative_error: float
    """Estimated relative quadrature error of λ² (the largest over the energies): the change
    from panels of 1/``panels_per_decade`` decade to half that width."""

    @property
    def lambda_par2_kpc2(self) -> np.ndarray:
        return self.lambda_par_kpc**2

    @property
    def lambda_perp2_kpc2(self) -> np.ndarray:
        return self.lambda_perp_kpc**2


def validate_position(cfg, position_kpc) -> np.ndarray:
    """The point as a float (3,) array, or ValueError if it is malformed or outside the halo
    (|z| < galaxy.halo_height_kpc and R < galaxy.radius_max_kpc, as for a point source)."""
    try:
        p = np.asarray(position_kpc, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"position {position_kpc!r} must be three numbers x, y, z [kpc]") from None
    if p.size != 3 or not np.all(np.isfinite(p)):
        raise ValueError(f"position {position_kpc!r} must be three finite numbers x, y, z [kpc]")
    H = cfg.galaxy.halo_height_kpc
    Rmax = cfg.galaxy.radius_max_kpc
    R = math.hypot(p[0], p[1])
    if not (abs(p[2]) < H and R < Rmax):
        raise ValueError(
            f"position ({p[0]:g}, {p[1]:g}, {p[2]:g}) kpc lies outside the halo: R = {R:.4g} kpc, z = "
            f"{p[2]:g} kpc "
            f"(needs |z| < galaxy.halo_height_kpc = {H:g} and R < galaxy.radius_max_kpc = {Rmax:g})"
        )
    return p


def local_loss_rates(cfg, position_kpc, kinetic_GeV) -> dict[str, np.ndarray]:
    """b = −dE/dt [GeV s⁻¹] of each loss process of the configuration at one point.

    losses.model 'galactic': the active processes (:func:`sdeprop.models.losses.active_loss_processes`)
    evaluated directly (:meth:`sdeprop.models.losses.LossModel.rates`, not the kernel's table);
    'quadratic': one entry, b0 E² (E kinetic, as in the kernel); 'none' or no active process:
    an empty dict.
    """
    cfg = load_config(cfg)
    e = np.atleast_1d(np.asarray(kinetic_GeV, dtype=float))
    lc = cfg.losses
    if lc.model == "quadratic":
        return {"quadratic b0 E²": lc.b0_per_GeV_per_s * e * e}
    if lc.model != "galactic":
        return {}
    model = LossModel.from_config(cfg, field_grid=read_field_grid(cfg.field))
    if not model.processes:
        return {}
    return {
        k: np.asarray(v, dtype=float)
        for k, v in model.rates(np.asarray(position_kpc, dtype=float), e).items()
    }


def _gauss_legendre(n):
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (x + 1.0), 0.5 * w  # on [0, 1]


def propagation_horizon(
    config, position_kpc, energy_GeV, source_energy_GeV=None, *, panels_per_decade: int = 16
) -> HorizonResult:
    """Local propagation horizon λ∥, λ⊥ (and λ_z) [kpc] at ``position_kpc`` for kinetic energies
    ``energy_GeV``, from source energy ``source_energy_GeV`` down.

    λ_i²(E, E_s) = 4 ∫_E^{E_s} D_i(E′)/b(E′) dE′  (docs/physics.md §8.5; Borisov & Kudryashov 2025
    eq. 28) with D∥, D⊥ from the configuration's [diffusion] (rigidity-dependent, for its
    species) and b the sum of its loss processes **at this point, held fixed along the path**
    (:func:`local_loss_rates`; the field direction too): a local, infinite-medium estimate —
    see the module docstring for when it stops meaning much.

    Parameters
    ----------
    config : Config, dict or TOML path.
    position_kpc : (x, y, z) inside the halo [kpc].
    energy_GeV : kinetic energies E [GeV] (scalar or array).
    source_energy_GeV : E_s [GeV]. None: the configuration's energy.max_GeV (the highest
        energy injected in a run).  ``math.inf``: the limit E_s → ∞, which exists only where
        4 D E/b falls with E (b grows faster than D: for electrons, synchrotron and Thomson
        losses ∝ E² against D ∝ E^δ, δ < 1).  It is computed by quadrature up to a cut-off
        and an analytic power-law tail above it (``tail_fraction`` says how much that tail
        carries); where the integrand does not fall (protons: pion losses ∝ E), ValueError.
    panels_per_decade : Gauss–Legendre panels (8 nodes each) per decade of E′ (the result
        uses twice as many; the difference is ``relative_error``).

    The quadrature is in ln E′ on panels with the requested energies as panel edges.  It is
    exact to rounding for smooth power laws (the Syrovatskii case); the galactic rates have
    small steps (the Fang et al. 2021 Klein–Nishina fit switches to Thomson at a fixed x,
    a 0.2–0.4 % step in b) that make the error ∝ panel width, a few 1e-6 with the default.
    """
    cfg = load_config(config)
    pos = validate_position(cfg, position_kpc)
    e = np.atleast_1d(np.asarray(energy_GeV, dtype=float)).reshape(-1)
    if e.size == 0 or not np.all(np.isfinite(e)) or np.any(e <= 0.0):
        raise ValueError(f"energies must be finite and positive [GeV], got {energy_GeV!r}")
    es = cfg.energy.max_GeV if source_energy_GeV is None else float(source_energy_GeV)
    if not es > 0.0:
        raise ValueError(f"source energy E_s = {source_energy_GeV!r} must be positive [GeV] (or inf)")
    if panels_per_decade < 1:
        raise ValueError("panels_per_decade must be ≥ 1")
    species = cfg.species.name
    if not local_loss_rates(cfg, pos, np.array([min(float(e.min()), 1.0)])):
        raise ValueError(
            f"the configuration has no energy losses for {species} (losses.model = '{cfg.losses.model}'"
            f"{'' if cfg.losses.model == 'none' else ', no active process'}): the horizon is unbounded"
        )

    B = evaluate_field(cfg.field, pos.reshape(1, 3), grid_file=read_field_grid(cfg.field))[0][0]
    bb = float(B @ B)
    bf2 = cfg.numerics.field_floor_uG**2
    alignment = bb / (bb + bf2)
    direction = B / math.sqrt(bb) if bb > 0.0 else np.full(3, np.nan)

    def integrand(u):
        """4 D_i E/b on ln E = u, in kpc² (λ² per unit ln E), for i = along b̂, across."""
        E = np.exp(u)
        b = sum(local_loss_rates(cfg, pos, E).values()) * MYR_S  # GeV/Myr
        if np.any(~np.isfinite(b)) or np.any(b <= 0.0):
            bad = E[~(np.isfinite(b) & (b > 0.0))][0]
            raise ValueError(
                f"the loss rate of {species} at this point is zero or not finite at E = {bad:.4g} GeV: "
                "λ² = 4∫D/b dE diverges there"
            )
        dpar, dperp = diffusion_at(cfg.diffusion, species, E)
        along = dperp + (dpar - dperp) * alignment
        return 4.0 * along * E / b, 4.0 * dperp * E / b

    xg, wg = _gauss_legendre(_GL_NODES)
    u_req = np.log(e)
    h0 = math.log(10.0) / panels_per_decade

    def quadrature(u_top, h):
        """λ² (along, across) from each requested energy below u_top up to u_top, shape (2, n); NaN above."""
        out = np.full((2, e.size), np.nan)
        inside = u_req < u_top
        if not inside.any():
            return out
        lo = float(u_req[inside].min())
        grid = np.arange(math.floor(lo / h), math.ceil(u_top / h) + 1) * h
        edges = np.unique(np.concatenate([u_req[inside], grid[(grid > lo) & (grid < u_top)], [u_top]]))
        width = np.diff(edges)
        nodes = (edges[:-1, None] + width[:, None] * xg).ravel()
        g = np.array(integrand(nodes)).reshape(2, -1, _GL_NODES)
        panels = (g * wg).sum(axis=2) * width  # (2, panels)
        cum = np.concatenate(
            [np.cumsum(panels[:, ::-1], axis=1)[:, ::-1], np.zeros((2, 1))], axis=1
        )  # edge -> top
        out[:, inside] = cum[
            :, np.searchsorted(edges, u_req[inside])
        ]  # requested energies are edges, exactly
        return out

    def integrate(u_top):
        """The quadrature on panels h0/2, and its relative difference from panels h0 as the error
        estimate (the rates have small steps — e.g. where a Klein–Nishina fit changes form — that make
        the error ∝ h)."""
        fine, coarse = quadrature(u_top, 0.5 * h0), quadrature(u_top, h0)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.abs(fine - coarse) / fine
        rel = rel[np.isfinite(rel)]
        return fine, float(rel.max()) if rel.size else 0.0

    tail_fraction, tail_slope = 0.0, float("nan")
    if math.isinf(es):
        cut = max(_INF_START_FACTOR * float(e.max()), _INF_MIN_CUT_GEV)
        while True:
            u_top = math.log(cut)
            g = np.array(integrand(np.array([u_top - 2 * math.log(10.0), u_top - math.log(10.0), u_top])))[0]
            s_prev = math.log(g[0] / g[1]) / math.log(10.0)
            s = math.log(g[1] / g[2]) / math.log(10.0)
            steady = abs(s - s_prev) <= 0.05 * max(abs(s), _INF_MIN_SLOPE)
            if s > _INF_MIN_SLOPE and steady:
                lam2, rel_err = integrate(u_top)
                tails = np.array(integrand(np.array([u_top])))[:, 0] / s  # ∫_cut^∞ g (E/cut)^−s d ln E
                tail_fraction = float(tails[0] / (lam2[0, np.argmax(e)] + tails[0]))
                if tail_fraction <= _INF_TAIL_TARGET or cut * 100.0 > _INF_MAX_CUT_GEV:
                    break
            elif cut * 100.0 > _INF_MAX_CUT_GEV:
                raise ValueError(
                    f"λ(E, E_s → ∞) does not converge for {species} at this point: 4 D∥ E/b falls as E^−s "
                    f"with s = {s:.3g} "
                    f"near E = {cut:.3g} GeV (it must fall, s > {_INF_MIN_SLOPE}: the losses must grow "
                    "faster than D); "
                    "give a finite source energy"
                )
            cut *= 100.0
        lam2 = lam2 + tails[:, None]
        tail_slope = s
    else:
        cut = es
        lam2, rel_err = integrate(math.log(es))
        lam2[:, e == es] = 0.0
    # Λ = λ⊥² I + (λ∥² − λ⊥²) b̂ b̂ᵀ (λ∥ already carries |b|²), so Λ_zz = λ⊥² + (λ∥² − λ⊥²) b̂_z²
    lz2 = lam2[1] + (lam2[0] - lam2[1]) * (float(direction[2]) ** 2 if bb > 0.0 else 0.0)
    return HorizonResult(
        energy_GeV=e,
        source_energy_GeV=es,
        position_kpc=pos,
        species=species,
        lambda_par_kpc=np.sqrt(lam2[0]),
        lambda_perp_kpc=np.sqrt(lam2[1]),
        lambda_z_kpc=np.sqrt(lz2),
        field_uG=np.asarray(B, dtype=float),
        direction=direction,
        alignment=alignment,
        tail_fraction=tail_fraction,
        cut_GeV=cut,
        tail_slope=tail_slope,
        relative_error=rel_err,
    )


# --------------------------------------------------------------------------- tables at one point
@dataclass(frozen=True)
class LossTable:
    """Energy-loss rates at one point against kinetic energy (what ``sdeprop losses`` shows).

    ``rates_GeV_per_s`` holds b = −dE/dt of each process (:func:`local_loss_rates`),
    ``total_GeV_per_s`` their sum and ``loss_time_Myr`` = E/b (inf where b = 0).
    ``kernel_total_GeV_per_s`` is the total from the kernel's interpolation table
    (:func:`kernel_total_loss_rate`) and ``horizon`` the local propagation horizon on the same
    energies; each is None unless asked for.
    """

    energy_GeV: np.ndarray
    rates_GeV_per_s: dict[str, np.ndarray]
    total_GeV_per_s: np.ndarray
    loss_time_Myr: np.ndarray
    kernel_total_GeV_per_s: np.ndarray | None = None
    horizon: HorizonResult | None = None


def loss_table(
    config,
    position_kpc,
    energy_GeV,
    *,
    horizon: bool = False,
    source_energy_GeV=None,
    kernel_table: bool = False,
    kernel_range_GeV=None,
) -> LossTable:
    """The loss rates of each process at ``position_kpc`` for the kinetic energies ``energy_GeV``;
    with ``horizon`` also :func:`propagation_horizon` from ``source_energy_GeV``, with
    ``kernel_table`` also the kernel table's total (its energy range widened to ``kernel_range_GeV``)."""
    cfg = load_config(config)
    pos = validate_position(cfg, position_kpc)
    e = np.atleast_1d(np.asarray(energy_GeV, dtype=float))
    rates = local_loss_rates(cfg, pos, e)
    total = sum(rates.values(), np.zeros_like(e))
    with np.errstate(divide="ignore"):
        loss_time = np.where(total > 0, e / np.where(total > 0, total, 1.0) / MYR_S, np.inf)
    kernel = kernel_total_loss_rate(cfg, pos, e, kernel_range_GeV) if kernel_table else None
    lam = propagation_horizon(cfg, pos, e, source_energy_GeV) if horizon else None
    return LossTable(
        energy_GeV=e,
        rates_GeV_per_s=rates,
        total_GeV_per_s=total,
        loss_time_Myr=loss_time,
        kernel_total_GeV_per_s=kernel,
        horizon=lam,
    )


def kernel_total_loss_rate(config, position_kpc, energy_GeV, energy_range_GeV=None) -> np.ndarray:
    """The total loss rate b [GeV s⁻¹] at one point as the kernel's interpolation table gives it
    (:func:`sdeprop.models.losses.kernel_loss_rate`), with the table's energy range widened to
    ``energy_range_GeV`` = (lowest, highest) [GeV] (default: that of ``energy_GeV``)."""
    cfg = load_config(config)
    e = np.atleast_1d(np.asarray(energy_GeV, dtype=float))
    lo, hi = (float(e.min()), float(e.max())) if energy_range_GeV is None else energy_range_GeV
    energy = cfg.energy.model_copy(update={"max_GeV": max(cfg.energy.max_GeV, hi)})
    table_cfg = cfg.model_copy(update={"energy": energy})
    pos = np.tile(np.asarray(position_kpc, dtype=float), (e.size, 1))
    return np.asarray(kernel_loss_rate(table_cfg, pos, e, energy_floor_GeV=min(lo, float(e.min()))))


def decade_energies(min_GeV: float, max_GeV: float) -> np.ndarray:
    """The powers of ten between ``min_GeV`` and ``max_GeV`` [GeV]; the two ends if there are fewer
    than two."""
    e = 10.0 ** np.arange(math.ceil(math.log10(min_GeV) - 1e-9), math.floor(math.log10(max_GeV) + 1e-9) + 1)
    return e if e.size >= 2 else np.array([min_GeV, max_GeV], dtype=float)


def local_environment(config, position_kpc) -> dict:
    """Field, gas and radiation at one point, as the loss model sees them.

    Keys: ``B_reg_uG`` (the regular field vector [μG]), ``B_reg_abs_uG``, ``dB_rms_uG`` (the
    turbulent field), ``B2_sync_uG2`` (the B² synchrotron uses: losses.magnetic_field_uG² if set,
    else |B|² + δB_rms²), ``processes`` (the active loss processes), ``n_HI``, ``n_H2`` (molecules),
    ``n_HII``, ``n_He`` [cm⁻³], ``U_rad_components`` ([(temperature K, energy density eV cm⁻³)]) and
    ``U_rad_eV_cm3`` (their sum).
    """
    cfg = load_config(config)
    pt = np.asarray(position_kpc, dtype=float).reshape(1, 3)
    lc = cfg.losses
    B = evaluate_field(cfg.field, pt, grid_file=read_field_grid(cfg.field))[0][0]
    db = float(evaluate_turbulence(cfg.turbulence, pt)[0])
    env = {
        "B_reg_uG": B,
        "B_reg_abs_uG": float(np.linalg.norm(B)),
        "dB_rms_uG": db,
        "processes": active_loss_processes(cfg),
    }
    if lc.magnetic_field_uG is not None:
        env["B2_sync_uG2"] = lc.magnetic_field_uG**2
    else:
        env["B2_sync_uG2"] = float(B @ B) + db * db
    gas_model = build_gas(
        lc.gas.xco,
        xco_value=lc.gas.xco_value,
        scale_HI=lc.gas.scale_HI,
        scale_H2=lc.gas.scale_H2,
        scale_HII=lc.gas.scale_HII,
    )
    env["n_HI"], env["n_H2"], env["n_HII"] = (float(v) for v in evaluate_gas(gas_model, pt)[0])
    env["n_He"] = lc.gas.helium_ratio * (env["n_HI"] + 2.0 * env["n_H2"])
    ic = lc.isrf
    isrf = build_isrf(
        ic.model,
        components=ic.components,
        scale_lengths_kpc=ic.scale_lengths_kpc,
        scale_heights_kpc=ic.scale_heights_kpc,
        R_sun_kpc=ic.R_sun_kpc,
        scale=ic.scale,
    )
    u = evaluate_isrf(isrf, pt)[0]
    env["U_rad_components"] = [
        (float(isrf_temperature_K(isrf, i)), float(u[i])) for i in range(isrf_n_components(isrf))
    ]
    env["U_rad_eV_cm3"] = float(np.sum(u))
    return env
