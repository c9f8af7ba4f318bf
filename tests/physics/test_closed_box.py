"""Conservation in a closed galaxy: a uniform density stays uniform under anisotropic
diffusion along a realistic field (docs/design.md §2).

Oracle: with zero-flux walls and no sources, ∂ψ/∂t = ∇·(D∇ψ) keeps ψ = const for any
tensor field D(x), since D∇ψ = 0.  The Itô SDE reproduces this only with the drift ∇·D:
without it the particles solve ∂ψ/∂t = ∂_i∂_j(D_ij ψ), for which a constant is not
stationary.  The check therefore tests the drift, the step control (the step must resolve
the changes of the field direction) and the reflecting walls (a conormal reflection, see
kernel.py) together, in the UF23 base field (Unger & Farrar 2024), whose field direction
changes over 0.1–1 kpc in the disc and halo and whose D∥/D⊥ = 10 here.

Set-up: a closed cylinder |z| < 2 kpc, R < 20 kpc with reflecting walls; particles start
uniformly distributed in it at t = 0 and are recorded at T with D∥ T = 2 kpc² (a typical
particle moves ~2 kpc along the field and 0.6 kpc across it); D constant in energy, ε = 0.1.
The tally: 7 × 7 × 4 cells of 4 × 4 × 1 kpc covering |x|, |y| < 14 kpc (inside the cylinder).

Statistics: each particle ends in one cell or outside the tally, so the cell counts are
multinomial with probabilities V_cell/V_cylinder; Pearson's χ² over the 196 cells plus the
outside bin follows χ²_196 (expected counts ≥ 300).  The check fails at p < 1e-3.

The machinery is sdeprop.validation.closed_box_check, which users can run on their own
field.  Measured (`python analysis/closed_box.py`): with `min_step_kpc` = 0.02, χ²/196 ≈ 1
with the drift and ≈ 4 without it at 60 000 particles (the density falls to ~0.4 of the
mean near the axis); the no-drift run here has 20 000 particles, where χ²/196 ≈ 2.2 is
still p ~ 1e-18.  docs/numerics.md has the table for other fields and step floors.
"""

from __future__ import annotations

from sdeprop.validation import closed_box_check

UF23 = {"model": "uf23", "variant": "base"}
FLOOR = {"min_step_kpc": 0.02}
P_FAIL = 1e-3


def test_uniform_density_stays_uniform_with_drift_in_uf23():
    check = closed_box_check(UF23, 60_000, drift=True, seed=11, time=FLOOR)
    counts = check.result.counts
    # the walls are closed: every particle is still inside at T
    assert counts["alive_at_t_max"] == 60_000
    assert counts["escaped_z"] == counts["escaped_R"] == 0
    assert check.ndf == 196
    assert check.p_value > P_FAIL, (check.chi2, check.ratio.min(), check.ratio.max())


def test_uniform_density_is_not_kept_without_drift():
    check = closed_box_check(UF23, 20_000, drift=False, seed=12, time=FLOOR)
    assert check.p_value < P_FAIL, (check.chi2, check.ratio.min(), check.ratio.max())


def test_uniform_density_stays_uniform_in_cerri17_x_field():
    """D_Rz flips sign at z = 0 in the Cerri et al. 2017 X-field (B_R ∝ sgn z): the flux condition
    there needs the kernel's interface rule (kernel._plane_step).  With it χ²/196 = 0.92 here;
    without it (numerics.plane_interface = "off") 1.96, p = 2e-14, an excess up to 1.55 on the z axis."""
    check = closed_box_check({"model": "cerri17", "overrides": {"disk_scale": 0.0, "halo_scale": 0.0}}, 30000)
    assert check.p_value > P_FAIL, (check.chi2, check.ratio.min(), check.ratio.max())


def test_plane_interface_off_fails_in_cerri17_x_field():
    """The same check with the interface rule switched off must fail: the rule is what the
    previous test measures, not something the statistics cannot see."""
    check = closed_box_check(
        {"model": "cerri17", "overrides": {"disk_scale": 0.0, "halo_scale": 0.0}},
        30000,
        numerics={"plane_interface": "off"},
    )
    assert check.p_value < P_FAIL, (check.chi2, check.ratio.min(), check.ratio.max())


# --- D varying in space (docs/transport.md): the drift gains ∂_j D⊥ + b_j (b·∇)(D∥ − D⊥)
TWO_HALO = {
    "spatial": "two_halo",
    "delta_par": 0.19,
    "two_halo": {"inner_half_thickness_kpc": 0.8, "delta_change": 0.39, "transition_index": 5},
}
ALONG_X = {"model": "uniform", "direction": [1.0, 0.0, 0.0]}


def test_uniform_density_stays_uniform_with_a_strong_two_halo_index_change():
    """δ(z) = 0.19 + 0.39 (|z|/0.8 kpc)^5 at 100 GeV: D is 6 times larger outside |z| = 0.8 kpc than at the
    plane; z bins of 0.5 kpc.  With the gradient drift χ²/392 ≈ 1.0 (p = 0.38 at 30 000 particles)."""
    check = closed_box_check(ALONG_X, 20_000, diffusion=TWO_HALO, bins=(7, 7, 8), seed=13)
    assert check.p_value > P_FAIL, (check.chi2, check.ratio.mean(axis=(0, 1)))


def test_strong_two_halo_index_change_fails_without_the_drift():
    """Without the drift the density tends to 1/D: 1.8 times the mean near the plane and 0.57 far from it
    (χ² = 1662/392 at 10 000 particles)."""
    check = closed_box_check(ALONG_X, 5_000, diffusion=TWO_HALO, bins=(7, 7, 8), drift=False, seed=14)
    assert check.p_value < P_FAIL, (check.chi2, check.ratio.mean(axis=(0, 1)))


TURBULENT = {"spatial": "turbulence"}
JF12_RANDOM = {"model": "jf12_random"}


def test_uniform_density_stays_uniform_with_turbulence_dependent_diffusion_in_uf23():
    """D∥ ∝ (η/η_ref)^−2 and D⊥ ∝ (η/η_ref)² (quasi-linear, capped at D⊥ = D∥) with η = δB/B from the JF12
    random field over UF23: D∥ varies by 10⁶ over the box.  The time is 25 times the usual one (D∥ is
    50 times smaller than its nominal value at the median point).  p = 0.62 at 20 000 particles."""
    check = closed_box_check(
        UF23, 20_000, diffusion=TURBULENT, turbulence=JF12_RANDOM, spread_kpc2=50.0, seed=15, time=FLOOR
    )
    assert check.p_value > P_FAIL, (check.chi2, check.ratio.mean(axis=(0, 1)))


def test_turbulence_dependent_diffusion_fails_without_the_drift():
    """Without the drift: 0.43 of the mean at |z| > 1 kpc, 1.56 inside (χ² = 3389/196 at 10 000)."""
    check = closed_box_check(
        UF23,
        5_000,
        diffusion=TURBULENT,
        turbulence=JF12_RANDOM,
        spread_kpc2=50.0,
        drift=False,
        seed=16,
        time=FLOOR,
    )
    assert check.p_value < P_FAIL, (check.chi2, check.ratio.mean(axis=(0, 1)))
