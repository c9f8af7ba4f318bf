"""The turbulence-level factors f∥(R, η), f⊥(R, η) of sdeprop.models.turbulent_diffusion (fast, seconds)."""

import math

import numpy as np
import pytest

from sdeprop.models.turbulent_diffusion import (
    SPEED_OF_LIGHT_CM_S,
    TURBULENCE_DIFFUSION_MODELS,
    check_turbulence_options,
    gyroradius_cm,
    turbulence_factor_table,
    turbulence_factors,
)

PER_DECADE = 16  # the kernel's table density (sdeprop.models.spatial_diffusion.TURBULENCE_TABLE_PER_DECADE)
PC_CM = 3.0857e18
RG_CM = 1.0e9 / (2.99792458e8 * 1.0e-10) * 100.0  # r_g = R/(cB) in cm for 1 GV, 1 μG (SI: 1e9 V, 1e-10 T)

#: options that put the classical-scattering transition λ∥ = r_g inside the table: X_ref = λ∥/r_g = 1 at
#: R0 = 1 PV in 3 μG, i.e. D0 = c r_g(1 PV, 3 μG)/3 ≈ 1.11e28 cm²/s at 1 PV; both regimes X ≫ 1, X ≪ 1 sampled
R_T = 1.0e6
CSR_TRANSITION = {
    "D0_cm2_per_s": SPEED_OF_LIGHT_CM_S * RG_CM * R_T / 3.0 / 3.0,
    "reference_rigidity_GV": R_T,
    "delta_par": 1.0 / 3.0,
    "field_strength_uG": 3.0,
}


def _grid(lo, hi, per_decade=PER_DECADE):
    n = max(2, math.ceil(math.log10(hi / lo) * per_decade) + 1)
    return np.linspace(math.log(lo), math.log(hi), n)


def _cases():
    yield "quasi_linear", {}
    yield "quasi_linear", {"parallel_exponent": 1.5, "perpendicular_exponent": 0.7}
    yield "classical_scattering", {}
    yield "classical_scattering", CSR_TRANSITION


@pytest.mark.parametrize(("model", "options"), list(_cases()))
def test_factors_are_one_at_the_reference_level(model, options):
    rig = np.geomspace(0.1, 1e8, 41)
    f_par, f_perp = turbulence_factors(model, 0.37, rig, 0.37, **options)
    assert np.allclose(f_par, 1.0, rtol=0, atol=1e-13) and np.allclose(f_perp, 1.0, rtol=0, atol=1e-13)
    # a table whose η nodes contain η_ref has an exact zero column there
    ln_eta = np.linspace(math.log(0.5) - 2.0, math.log(0.5) + 2.0, 9)
    ln_par, ln_perp = turbulence_factor_table(model, 0.5, np.log(rig), ln_eta, **options)
    assert ln_par.shape == ln_perp.shape == (rig.size, ln_eta.size)
    assert np.max(np.abs(ln_par[:, 4])) < 1e-13 and np.max(np.abs(ln_perp[:, 4])) < 1e-13


@pytest.mark.parametrize(("a_par", "a_perp"), [(2.0, 2.0), (1.5, 0.7), (0.0, 4.0)])
def test_quasi_linear_exponents_are_the_table_slopes(a_par, a_perp):
    ln_r = _grid(1.0, 1e6)
    ln_eta = _grid(1e-3, 1e3)
    ln_par, ln_perp = turbulence_factor_table(
        "quasi_linear", 0.5, ln_r, ln_eta, parallel_exponent=a_par, perpendicular_exponent=a_perp
    )
    d = ln_eta[1] - ln_eta[0]
    assert np.allclose(np.diff(ln_par, axis=1) / d, -a_par, rtol=0, atol=1e-9)
    assert np.allclose(np.diff(ln_perp, axis=1) / d, a_perp, rtol=0, atol=1e-9)
    # no rigidity dependence
    assert np.all(ln_par == ln_par[0]) and np.all(ln_perp == ln_perp[0])


def test_defaults_are_quasi_linear_theory_and_field_line_random_walk():
    f_par, f_perp = turbulence_factors("quasi_linear", 0.5, 10.0, 0.05)  # η/η_ref = 0.1
    assert f_par == pytest.approx(100.0, rel=1e-12)  # D∥ ∝ (B/δB)²
    assert f_perp == pytest.approx(0.01, rel=1e-12)  # D⊥ ∝ (δB/B)²


def test_gyroradius_numbers():
    """docs/physics.md §7.1: r_g = 3.336e12 cm (R/GV)(B/μG)⁻¹ = 1.081 pc (R/PV)(B/μG)⁻¹."""
    assert gyroradius_cm(1.0, 1.0) == pytest.approx(3.336e12, rel=2e-4)
    assert gyroradius_cm(1e6, 1.0) / PC_CM == pytest.approx(1.081, rel=1e-3)
    assert gyroradius_cm(4.0, 3.0) == pytest.approx(3.33564095e12 * 4.0 / 3.0, rel=1e-8)


def _csr_absolute(rig, eta, eta_ref, o):
    """κ∥ and κ⊥ in cm²/s written out from the source formula: κ∥ = D0 (R/R0)^δ (η/η_ref)^(−a∥) and the
    classical scattering relation κ⊥ = κ∥/(1 + (3κ∥/(c r_g))²) (Reichherzer et al. 2022, MNRAS 514, 2658;
    CRPropa fork JulienDoerner/CRPropa3 ``TurbulentCSR``), r_g = R/(cB) = 3.33564e12 cm (R/GV)/(B/μG)."""
    k_par = o["D0_cm2_per_s"] * (rig / o["reference_rigidity_GV"]) ** o["delta_par"] * (eta / eta_ref) ** -2.0
    r_g = RG_CM * rig / o["field_strength_uG"]
    return k_par, k_par / (1.0 + (3.0 * k_par / (SPEED_OF_LIGHT_CM_S * r_g)) ** 2)


def test_classical_scattering_reproduces_the_relation():
    """At the named points: (R, η) = (1 PV, η_ref) has λ∥ = r_g, so κ⊥ = κ∥/2; (1 PV, η_ref·3^(1/4)) has
    λ∥/r_g = 1/√3, so κ⊥ = 3κ∥/4; and a spread of points against the formula written out."""
    eta_ref, o = 0.5, CSR_TRANSITION
    k_par0, k_perp0 = _csr_absolute(R_T, eta_ref, eta_ref, o)
    assert k_perp0 / k_par0 == pytest.approx(0.5, rel=1e-8)
    eta1 = eta_ref * 3.0**0.25
    k_par1, k_perp1 = _csr_absolute(R_T, eta1, eta_ref, o)
    assert k_perp1 / k_par1 == pytest.approx(0.75, rel=1e-8)
    f_par, f_perp = turbulence_factors("classical_scattering", eta_ref, R_T, eta1, **o)
    assert f_par == pytest.approx(k_par1 / k_par0, rel=1e-12)
    assert f_perp == pytest.approx(k_perp1 / k_perp0, rel=1e-12)
    assert f_perp == pytest.approx(3.0**-0.5 * 2.0 / (1.0 + 1.0 / 3.0), rel=1e-12)

    rig = np.geomspace(1e-2, 1e7, 23)[:, None]
    eta = np.geomspace(1e-3, 1e3, 19)[None, :]
    k_par, k_perp = _csr_absolute(rig, eta, eta_ref, o)
    k_par_ref, k_perp_ref = _csr_absolute(rig, eta_ref, eta_ref, o)
    f_par, f_perp = turbulence_factors("classical_scattering", eta_ref, rig, eta, **o)
    assert np.allclose(f_par, k_par / k_par_ref, rtol=1e-10, atol=0)
    assert np.allclose(f_perp, k_perp / k_perp_ref, rtol=1e-10, atol=0)


def test_classical_scattering_limits():
    """λ∥ ≫ r_g: D⊥ ∝ r_g²/D∥ ∝ η^(+a∥), the quasi-linear pair; λ∥ ≪ r_g: D⊥ → D∥, f⊥ ∝ f∥."""
    ln_eta = _grid(1e-3, 1e0)
    # defaults (D0 = 3e28 cm²/s at 4 GV, 3 μG): λ∥/r_g ≈ 7e5 at 4 GV, η_ref
    _, ln_perp = turbulence_factor_table("classical_scattering", 0.5, np.log([1.0, 1e3]), ln_eta)
    slope = np.diff(ln_perp, axis=1) / (ln_eta[1] - ln_eta[0])
    assert np.allclose(slope, 2.0, rtol=0, atol=1e-6)
    # transition options, high rigidity and strong turbulence: X = λ∥/r_g ≪ 1
    _, ln_perp = turbulence_factor_table(
        "classical_scattering", 0.5, np.log([1e8, 1e9]), _grid(10.0, 1e3), **CSR_TRANSITION
    )
    slope = np.diff(ln_perp, axis=1) / (math.log(10.0) / PER_DECADE)
    assert np.allclose(slope, -2.0, rtol=0, atol=1e-3)


def _bilinear(table, ln_r_nodes, ln_eta_nodes, x, y):
    """Bilinear interpolation on a regular grid, as the kernel does it (no clamping needed inside)."""
    hx, hy = ln_r_nodes[1] - ln_r_nodes[0], ln_eta_nodes[1] - ln_eta_nodes[0]
    i = np.minimum(((x - ln_r_nodes[0]) / hx).astype(int), ln_r_nodes.size - 2)
    j = np.minimum(((y - ln_eta_nodes[0]) / hy).astype(int), ln_eta_nodes.size - 2)
    tx, ty = (x - ln_r_nodes[i]) / hx, (y - ln_eta_nodes[j]) / hy
    return (
        (1 - tx) * (1 - ty) * table[i, j]
        + tx * (1 - ty) * table[i + 1, j]
        + (1 - tx) * ty * table[i, j + 1]
        + tx * ty * table[i + 1, j + 1]
    )


@pytest.mark.parametrize(
    ("model", "options", "tolerance"),
    [
        ("quasi_linear", {}, 1e-12),
        ("quasi_linear", {"parallel_exponent": 1.5, "perpendicular_exponent": 0.7}, 1e-12),
        # the transition λ∥ = r_g lies inside the table (with the defaults at high R and η as well):
        ("classical_scattering", {}, 1.2e-2),
        # |Δ ln f| ≤ (h_R² M_R + h_η² M_η)/8 with the second derivatives of ln f⊥ bounded by a∥² = 4 (along
        # ln η) and (1 − δ)² ≤ 1/4 and 4/9 (along ln R), h = ln 10/16: 1.1e-2 and 1.2e-2
        ("classical_scattering", CSR_TRANSITION, 1.2e-2),
    ],
)
def test_bilinear_table_matches_direct_evaluation(model, options, tolerance):
    ln_r = _grid(1e-1, 1e9)
    ln_eta = _grid(1e-3, 1e3)
    ln_par, ln_perp = turbulence_factor_table(model, 0.5, ln_r, ln_eta, **options)
    rng = np.random.default_rng(7)
    x = rng.uniform(ln_r[0], ln_r[-1], 4000)
    y = rng.uniform(ln_eta[0], ln_eta[-1], 4000)
    f_par, f_perp = turbulence_factors(model, 0.5, np.exp(x), np.exp(y), **options)
    err_par = np.max(np.abs(_bilinear(ln_par, ln_r, ln_eta, x, y) - np.log(f_par)))
    err_perp = np.max(np.abs(_bilinear(ln_perp, ln_r, ln_eta, x, y) - np.log(f_perp)))
    assert err_par < tolerance and err_perp < tolerance
    # the nodes themselves are exact
    f_par, f_perp = turbulence_factors(model, 0.5, np.exp(ln_r)[:, None], np.exp(ln_eta)[None, :], **options)
    assert np.allclose(ln_par, np.log(f_par), rtol=0, atol=1e-12)
    assert np.allclose(ln_perp, np.log(f_perp), rtol=0, atol=1e-12)


def test_table_eta_slope_for_the_drift():
    """The kernel's ∂ ln f/∂ ln η from the table against the analytic slope of the classical scattering
    relation, −a∥ (1 − 2X²/(1 + X²)), X = λ∥/r_g, at the cell centres (central difference: error O(h²))."""
    ln_eta = _grid(1e-3, 1e3)
    ln_r = np.log([R_T, 10.0 * R_T])
    _, ln_perp = turbulence_factor_table("classical_scattering", 0.5, ln_r, ln_eta, **CSR_TRANSITION)
    h = ln_eta[1] - ln_eta[0]
    centres = 0.5 * (ln_eta[1:] + ln_eta[:-1])
    x2 = (0.5 / np.exp(centres)) ** 4  # X = X_ref (η_ref/η)², X_ref = 1 at R_T
    analytic = -2.0 * (1.0 - 2.0 * x2 / (1.0 + x2))
    assert np.allclose(np.diff(ln_perp[0]) / h, analytic, rtol=0, atol=4.0 * h**2)


def test_options_resolve_to_defaults():
    for model, spec in TURBULENCE_DIFFUSION_MODELS.items():
        resolved = check_turbulence_options(model, {})
        assert resolved == {name: v[0] for name, v in spec.items()}
        for default, lo, hi, text in spec.values():
            assert lo <= default <= hi and "[" in text  # every description carries a unit
    assert check_turbulence_options("quasi_linear", {"parallel_exponent": 3})["parallel_exponent"] == 3.0


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: check_turbulence_options("bohm", {}), ["'bohm'", "quasi_linear", "classical_scattering"]),
        (
            lambda: check_turbulence_options("quasi_linear", {"exponent": 2.0}),
            ["'exponent'", "parallel_exponent"],
        ),
        (
            lambda: check_turbulence_options("quasi_linear", {"parallel_exponent": 5.0}),
            ["'parallel_exponent'", "5.0", "[0, 4]"],
        ),
        (
            lambda: check_turbulence_options("classical_scattering", {"field_strength_uG": -3.0}),
            ["'field_strength_uG'", "-3.0", "[0.001, 10000]"],
        ),
        (
            lambda: check_turbulence_options("quasi_linear", {"perpendicular_exponent": float("nan")}),
            ["'perpendicular_exponent'", "nan", "finite"],
        ),
        (
            lambda: check_turbulence_options("quasi_linear", {"perpendicular_exponent": True}),
            ["'perpendicular_exponent'", "True"],
        ),
        (
            lambda: check_turbulence_options("quasi_linear", {"perpendicular_exponent": "2"}),
            ["'perpendicular_exponent'", "'2'"],
        ),
        (lambda: turbulence_factors("quasi_linear", 0.0, 1.0, 1.0), ["reference_eta", "0.0", "> 0"]),
        (lambda: turbulence_factors("quasi_linear", 0.5, 1.0, -1.0), ["eta", "> 0"]),
        (lambda: turbulence_factors("quasi_linear", 0.5, np.nan, 1.0), ["rigidity_GV", "finite"]),
        (
            lambda: turbulence_factors("quasi_linear", 0.5, 1.0, 1.0, parallel_exponent=-1),
            ["'parallel_exponent'", "-1"],
        ),
        (
            lambda: turbulence_factor_table("quasi_linear", 0.5, [0.0], [0.0, 1.0]),
            ["ln_rigidity_nodes", "at least 2"],
        ),
        (
            lambda: turbulence_factor_table("quasi_linear", 0.5, [0.0, 1.0], [1.0, 0.0]),
            ["ln_eta_nodes", "increasing"],
        ),
        (
            lambda: turbulence_factor_table("quasi_linear", 0.5, [0.0, 1.0, 3.0], [0.0, 1.0]),
            ["ln_rigidity_nodes", "evenly"],
        ),
        (
            lambda: turbulence_factor_table("quasi_linear", 0.5, np.zeros((2, 2)), [0.0, 1.0]),
            ["ln_rigidity_nodes", "1-D"],
        ),
        (
            lambda: turbulence_factor_table("quasi_linear", 0.5, [0.0, 1.0], [0.0, np.inf]),
            ["ln_eta_nodes", "finite"],
        ),
        (lambda: turbulence_factor_table("nope", 0.5, [0.0, 1.0], [0.0, 1.0]), ["'nope'", "allowed"]),
    ],
)
def test_bad_input_is_a_value_error_that_says_what_is_allowed(call, words):
    with pytest.raises(ValueError) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))
