"""How D∥ and D⊥ depend on the turbulence level η = δB/B: normalised factors f(R, η) for the kernel.

Convention (fixed by the kernel, sdeprop.models.spatial_diffusion): D∥(x, R) = D∥_base(R) f∥(R, η(x)) and
D⊥(x, R) = D⊥_base(R) f⊥(R, η(x)), where D_base is the configured rigidity law, valid at η = η_ref, so
f(R, η_ref) = 1 at every R.  δB is the rms turbulent field, B the regular one (η is a ratio of amplitudes,
not δB/√(B² + δB²) nor δB²/(B² + δB²)).  The kernel interpolates ln f bilinearly on a regular (ln R, ln η)
grid (:func:`turbulence_factor_table`) and takes ∂ ln f/∂ ln η from it for the drift.

Models (options, defaults and bounds in :data:`TURBULENCE_DIFFUSION_MODELS`):

* ``quasi_linear``: f∥ = (η/η_ref)^(−a∥), f⊥ = (η/η_ref)^(+a⊥), independent of R; defaults a∥ = a⊥ = 2.
  a∥ = 2 is quasi-linear theory, D∥ ∝ (B/δB)² (Jokipii 1966, ApJ 146, 480; for a Kolmogorov spectrum
  D∥ ~ c l_c (B/δB)² (r_g/l_c)^(1/3), docs/physics.md §7.2).  a⊥ = 2 is the field-line random walk,
  whose diffusion coefficient is ∝ (δB/B)² (Jokipii & Parker 1968, PRL 21, 44; 1969, ApJ 155, 777),
  and equally the λ∥ ≫ r_g limit of the classical scattering relation below when D∥ ∝ η^(−2).  The same
  pair of exponents is in the CRPropa fork github.com/JulienDoerner/CRPropa3 (``QLTTurbulent``:
  κ∥ ∝ (η0/η)², κ⊥ ∝ (η η0)²).  Valid for η ≪ 1 only.
* ``classical_scattering``: D∥ as in ``quasi_linear``; D⊥ = D∥ / [1 + (λ∥/r_g)²] with λ∥ = 3 D∥/v, the
  classical scattering relation that Reichherzer et al. 2022 (MNRAS 514, 2658, abstract) find in "very
  good agreement" with test-particle simulations "for a large parameter space" and propose as the
  prescription for D⊥; the same formula, κ⊥ = κ∥/(1 + (3κ∥/(c r_g))²), is the fork's ``TurbulentCSR``.
  λ∥/r_g needs absolute numbers: λ∥ = 3 D0 (R/R0)^δ (η/η_ref)^(−a∥)/c (D0 without the β factor, which
  cancels in λ∥ = 3D∥/v) and r_g = R/(c B) with a fixed reference field ``field_strength_uG`` (not the
  local field).  Hence f⊥ = f∥ (1 + X_ref²)/(1 + X_ref² f∥²), X_ref = λ∥/r_g at η_ref, depends on R.

Not implemented, for want of verified numbers: the test-particle table α∥(η), α⊥(η), κ∥(η), κ⊥(η)
(``TurbulenceData.txt``) that the fork's ``TurbulentDiffusion`` reads after Reichherzer et al. is in no
public repository found (the fork's branches and history, CRPropa3-data); the fit coefficients of Candia &
Roulet 2004 (JCAP 10, 007) could not be read (only the abstract).  Both models extrapolate QLT scalings:
Reichherzer et al. 2020 (MNRAS 498, 5051; arXiv:1910.07528v1 abstract) find the QLT energy scaling fails
above a turbulence level of 5 % of the total field.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

SPEED_OF_LIGHT_CM_S = 2.99792458e10
GYRORADIUS_CM_PER_GV_PER_UG = 1.0e9 / (2.99792458e8 * 1.0e-10) * 100.0
"""r_g = R/(c B) in cm for R = 1 GV, B = 1 μG (≈ 3.336e12 cm; docs/physics.md §7.1)."""

_EXPONENT_PAR = (2.0, 0.0, 4.0, "a∥ in D∥ ∝ η^(−a∥) [dimensionless]; 2 in quasi-linear theory")

#: model name -> {option name: (default, lower bound, upper bound, one-line description with unit)}
TURBULENCE_DIFFUSION_MODELS: dict[str, dict[str, tuple[float, float, float, str]]] = {
    "quasi_linear": {
        "parallel_exponent": _EXPONENT_PAR,
        "perpendicular_exponent": (
            2.0,
            0.0,
            4.0,
            "a⊥ in D⊥ ∝ η^(+a⊥) [dimensionless]; 2 for the field-line random walk",
        ),
    },
    "classical_scattering": {
        "parallel_exponent": _EXPONENT_PAR,
        "D0_cm2_per_s": (
            3.0e28,
            1.0e24,
            1.0e33,
            "D∥ at η_ref and R0, without β [cm²/s]; give the [diffusion] D0 (its default here)",
        ),
        "reference_rigidity_GV": (4.0, 1.0e-3, 1.0e9, "R0 where D∥ = D0 at η_ref [GV]; as [diffusion]"),
        "delta_par": (0.5, -1.0, 3.0, "rigidity index δ of D∥ at η_ref [dimensionless]; as [diffusion]"),
        "field_strength_uG": (
            3.0,
            1.0e-3,
            1.0e4,
            "fixed reference field B in r_g = R/(c B) [μG]; a nominal value, not the local field",
        ),
    },
}


def gyroradius_cm(rigidity_GV, field_uG):
    """Gyroradius r_g = R/(c B) [cm] for rigidity [GV] and field [μG] (1 PV in 1 μG: 1.081 pc)."""
    return GYRORADIUS_CM_PER_GV_PER_UG * np.asarray(rigidity_GV, dtype=float) / field_uG


def check_turbulence_options(model: str, options: dict) -> dict[str, float]:
    """The model's options, defaults filled in; ValueError for an unknown model or option, or a bad value."""
    if model not in TURBULENCE_DIFFUSION_MODELS:
        allowed = ", ".join(repr(m) for m in TURBULENCE_DIFFUSION_MODELS)
        raise ValueError(f"unknown turbulence-diffusion model {model!r}; allowed: {allowed}")
    spec = TURBULENCE_DIFFUSION_MODELS[model]
    unknown = sorted(set(options) - set(spec))
    if unknown:
        raise ValueError(
            f"turbulence-diffusion model {model!r}: unknown option {unknown[0]!r}; allowed: {', '.join(spec)}"
        )
    out = {}
    for name, (default, lo, hi, text) in spec.items():
        value = options.get(name, default)
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise ValueError(
                f"turbulence-diffusion model {model!r}: option {name!r} = {value!r} must be a finite number "
                f"in [{lo:g}, {hi:g}] ({text})"
            )
        if not lo <= value <= hi:
            raise ValueError(
                f"turbulence-diffusion model {model!r}: option {name!r} = {value!r} is outside "
                f"[{lo:g}, {hi:g}] ({text})"
            )
        out[name] = float(value)
    return out


def _check_reference_eta(reference_eta) -> float:
    if (
        isinstance(reference_eta, bool)
        or not isinstance(reference_eta, Real)
        or not math.isfinite(reference_eta)
        or reference_eta <= 0
    ):
        raise ValueError(f"reference_eta = {reference_eta!r} must be a finite number > 0 (η = δB/B at f = 1)")
    return float(reference_eta)


def _log_factors(model, opts, ln_eta_ref, ln_r, ln_eta):
    """(ln f∥, ln f⊥) on broadcast arrays of ln R [ln GV] and ln η."""
    u = ln_eta - ln_eta_ref
    ln_par = -opts["parallel_exponent"] * u + 0.0 * ln_r
    if model == "quasi_linear":
        return ln_par, opts["perpendicular_exponent"] * u + 0.0 * ln_r
    # classical scattering: X = λ∥/r_g = 3 D∥/(c r_g); ln f⊥ = ln f∥ + ln(1 + X_ref²) − ln(1 + X²)
    r0 = opts["reference_rigidity_GV"]
    ln_x_ref = (
        math.log(3.0 * opts["D0_cm2_per_s"] / SPEED_OF_LIGHT_CM_S)
        + opts["delta_par"] * (ln_r - math.log(r0))
        - np.log(gyroradius_cm(1.0, opts["field_strength_uG"]))
        - ln_r
    )
    ln_perp = ln_par + np.logaddexp(0.0, 2.0 * ln_x_ref) - np.logaddexp(0.0, 2.0 * (ln_x_ref + ln_par))
    return ln_par, ln_perp


def _check_nodes(name: str, nodes) -> np.ndarray:
    a = np.asarray(nodes, dtype=float)
    if a.ndim != 1 or a.size < 2:
        raise ValueError(f"{name} must be a 1-D array of at least 2 nodes; got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite; got {a}")
    step = np.diff(a)
    if not np.all(step > 0):
        raise ValueError(f"{name} must be strictly increasing; got {a}")
    if not np.allclose(step, step[0], rtol=1e-6, atol=0.0):
        raise ValueError(f"{name} must be evenly spaced (a regular grid); steps {step.min()} to {step.max()}")
    return a


def turbulence_factor_table(
    model: str, reference_eta: float, ln_rigidity_nodes: np.ndarray, ln_eta_nodes: np.ndarray, **options
) -> tuple[np.ndarray, np.ndarray]:
    """(ln f_par, ln f_perp), each shape (len(ln_rigidity_nodes), len(ln_eta_nodes)), normalised to 0 at
    eta = reference_eta.

    Nodes: regular, strictly increasing grids of ln(R/GV) and ln η (at least 2 each).
    """
    opts = check_turbulence_options(model, options)
    ln_eta_ref = math.log(_check_reference_eta(reference_eta))
    ln_r = _check_nodes("ln_rigidity_nodes", ln_rigidity_nodes)[:, None]
    ln_eta = _check_nodes("ln_eta_nodes", ln_eta_nodes)[None, :]
    ln_par, ln_perp = _log_factors(model, opts, ln_eta_ref, ln_r, ln_eta)
    shape = (ln_r.shape[0], ln_eta.shape[1])
    return np.broadcast_to(ln_par, shape).copy(), np.broadcast_to(ln_perp, shape).copy()


def turbulence_factors(model, reference_eta, rigidity_GV, eta, **options) -> tuple[np.ndarray, np.ndarray]:
    """Direct (vectorised) evaluation of (f_par, f_perp) for checks and plotting.

    ``rigidity_GV`` [GV] and ``eta`` (δB/B) broadcast against each other; both must be finite and > 0.
    """
    opts = check_turbulence_options(model, options)
    ln_eta_ref = math.log(_check_reference_eta(reference_eta))
    r = np.asarray(rigidity_GV, dtype=float)
    e = np.asarray(eta, dtype=float)
    for name, a in (("rigidity_GV", r), ("eta", e)):
        if not np.all(np.isfinite(a) & (a > 0)):
            raise ValueError(f"{name} must be finite and > 0; got {a}")
    ln_par, ln_perp = _log_factors(model, opts, ln_eta_ref, np.log(r), np.log(e))
    return np.exp(ln_par), np.exp(ln_perp)
