"""`sdeprop losses` and the local propagation horizon (sdeprop/horizon.py)."""

import math

import numpy as np
import pytest

from sdeprop.cli import main
from sdeprop.horizon import local_loss_rates, propagation_horizon
from sdeprop.units import ELECTRON_MASS_GEV, KPC_CM, MYR_S, diffusion_cm2_per_s_to_kpc2_per_myr

SUN = [-8.3, 0.0, 0.0]


def _table_rows(text):
    """Rows of the printed table: lists of strings, after the header line that starts with 'E [GeV]'."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("E [GeV]"))
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("wrote"):
            break
        rows.append(line.split())
    return lines[start].split("  "), rows


def test_cli_electrons_table_png_and_kernel_table(tmp_path, capsys):
    png = tmp_path / "e.png"
    assert (
        main(["losses", "--energies", "10,100,1000", "--points", "24", "--kernel-table", "-o", str(png)]) == 0
    )
    out = capsys.readouterr().out
    assert png.exists() and png.stat().st_size > 10_000
    for word in ("electron at (x, y, z) = (-8.3, 0, 0) kpc", "synchrotron: B²", "n_HI", "U = ", "E/b [Myr]"):
        assert word in out
    _, rows = _table_rows(out)
    assert [float(r[0]) for r in rows] == [10.0, 100.0, 1000.0]
    # columns: E, synchrotron, inverse_compton, bremsstrahlung, coulomb_ionisation, total, E/b, kernel,
    # kernel/direct - 1
    direct = local_loss_rates(
        {"species": {"name": "electron"}, "losses": {"model": "galactic"}}, SUN, [10.0, 100.0, 1000.0]
    )
    total = sum(direct.values())
    np.testing.assert_allclose([float(r[5]) for r in rows], total, rtol=1e-4)
    np.testing.assert_allclose(
        [float(r[6]) for r in rows], np.array([10.0, 100.0, 1000.0]) / total / MYR_S, rtol=1e-3
    )
    assert all(abs(float(r[8])) < 1e-2 for r in rows)  # the kernel's table (no turbulence here) within 1 %


def test_cli_protons_with_horizon_and_config_file(tmp_path, capsys):
    toml = tmp_path / "p.toml"
    toml.write_text(
        '[species]\nname = "electron"\n[losses]\nmodel = "galactic"\n[diffusion]\nepsilon = 0.2\n'
    )
    png = tmp_path / "p.png"
    assert (
        main(
            [
                "losses",
                str(toml),
                "--species",
                "proton",
                "--at=-8.5,0,0.1",
                "--energy-range",
                "0.5,1e4",
                "--horizon",
                "--points",
                "24",
                "--set",
                "galaxy.halo_height_kpc=5",
                "-o",
                str(png),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert png.exists()
    assert "proton at (x, y, z) = (-8.5, 0, 0.1) kpc" in out and "|z| < 5" in out
    assert "coulomb_ionisation" in out and "pion_production" in out and "synchrotron" not in out
    assert "ε = 0.2" in out and "E_s = 1e+04 GeV" in out
    header, rows = _table_rows(out)
    assert [float(r[0]) for r in rows] == [1.0, 10.0, 100.0, 1000.0, 10000.0]
    lam_par = [float(r[-3]) for r in rows]
    assert lam_par[-1] == 0.0 and all(a > b for a, b in zip(lam_par, lam_par[1:]))  # λ → 0 at E = E_s


def _quadratic(delta, epsilon=0.1, D0=1e28, b0=1e-16):
    return {
        "species": {"name": "electron"},
        "losses": {"model": "quadratic", "b0_per_GeV_per_s": b0},
        "diffusion": {
            "D0_cm2_per_s": D0,
            "reference_rigidity_GV": 1.0,
            "delta_par": delta,
            "epsilon": epsilon,
            "beta": False,
        },
        "field": {"model": "uniform", "direction": [0.0, 0.3, 1.0], "strength_uG": 3.0},
    }


@pytest.mark.parametrize("delta", [0.5, 0.33])
@pytest.mark.parametrize("source", [2.0e4, math.inf])
def test_horizon_is_the_syrovatskii_closed_form(delta, source):
    """b = b0 E², D = D0 (R/1 GV)^δ: λ² = 4 D0/(b0 (1 − δ)) (E^{δ−1} − E_s^{δ−1}) (docs/physics.md §8.5).

    The code's energy is the kinetic energy T and D depends on the rigidity R = sqrt(T (T + 2m)),
    so D_code/D_closed = (1 + 2m/T)^{δ/2} ∈ [1, (1 + 2m/E)^{δ/2}] on [E, E_s]: the ratio of the
    λ² is bounded by the same numbers.  The quadrature itself is exact to 1e-10 for a power law
    (and the ∞-tail above the cut-off is analytic)."""
    eps = 0.1
    E = np.array([1.0, 10.0, 100.0, 1000.0, 1.0e4])
    h = propagation_horizon(_quadratic(delta, eps), SUN, E, source)
    D0 = diffusion_cm2_per_s_to_kpc2_per_myr(1e28)
    b0 = 1e-16 * MYR_S
    closed = (
        4.0
        * D0
        / (b0 * (1.0 - delta))
        * (E ** (delta - 1.0) - (0.0 if math.isinf(source) else source ** (delta - 1.0)))
    )
    bound = (1.0 + 2.0 * ELECTRON_MASS_GEV / E) ** (delta / 2.0) - 1.0
    # λ∥ is along b̂ of the kernel's tensor D⊥ + (D∥ − D⊥)|b|², |b|² = B²/(B² + B_f²) = 1 − 1.1e-7 here
    assert h.alignment == pytest.approx(9.0 / (9.0 + 1e-6), rel=1e-14)
    for lam, factor in ((h.lambda_par_kpc, eps + (1.0 - eps) * h.alignment), (h.lambda_perp_kpc, eps)):
        ratio = lam**2 / (factor * closed) - 1.0
        assert np.all(ratio > -1e-10) and np.all(ratio < bound + 1e-10), (ratio, bound)
    assert h.relative_error < 1e-10
    if math.isinf(source):
        assert h.tail_slope == pytest.approx(1.0 - delta, rel=1e-6) and h.tail_fraction < 1e-3


def test_horizon_worked_number_of_physics_md():
    """D0 = 1e28 cm²/s at 1 GeV, δ = 0.5, b0 = 1e-16 GeV⁻¹ s⁻¹, E = 100 GeV, E_s → ∞: λ² = 8e43 cm², λ ≈ 2.9
    kpc."""
    h = propagation_horizon(_quadratic(0.5, epsilon=1.0), SUN, 100.0, math.inf)
    lam_cm2 = h.lambda_par_kpc[0] ** 2 * KPC_CM**2
    assert lam_cm2 == pytest.approx(8.0e43, rel=3e-6)  # the rest is the rigidity R ≠ T (≤ 2.6e-6 at 100 GeV)
    assert h.lambda_par_kpc[0] == pytest.approx(2.90, abs=0.005)
    assert h.lambda_perp_kpc[0] == pytest.approx(h.lambda_par_kpc[0], rel=1e-12)


def test_anisotropy_of_the_horizon_galactic_losses():
    """For an energy-independent ε, λ∥/λ⊥ = sqrt(D∥/D⊥) whatever b(E) is; λ_z projects the tensor on z."""
    eps = 0.05
    cfg = {
        "species": {"name": "electron"},
        "losses": {"model": "galactic"},
        "diffusion": {"epsilon": eps},
        "field": {"model": "uniform", "direction": [0.0, 0.3, 1.0], "strength_uG": 3.0},
    }
    E = np.logspace(0, 4, 9)
    h = propagation_horizon(cfg, SUN, E, 3.0e4)
    along = eps + (1.0 - eps) * h.alignment  # (D⊥ + (D∥ − D⊥)|b|²)/D∥
    np.testing.assert_allclose(h.lambda_par_kpc / h.lambda_perp_kpc, np.sqrt(along / eps), rtol=1e-12)
    assert along == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(h.direction, np.array([0.0, 0.3, 1.0]) / math.hypot(0.3, 1.0), rtol=1e-12)
    bz2 = 1.0 / 1.09
    np.testing.assert_allclose(
        h.lambda_z_kpc**2,
        h.lambda_perp_kpc**2 + (h.lambda_par_kpc**2 - h.lambda_perp_kpc**2) * bz2,
        rtol=1e-12,
    )
    assert h.relative_error < 1e-4
    assert np.all(np.diff(h.lambda_par_kpc) < 0)
    # above E_s there is nothing; the ∞-limit exists for electrons (synchrotron ∝ E² beats D ∝ E^0.5) ...
    assert np.isnan(propagation_horizon(cfg, SUN, [1e5], 3.0e4).lambda_par_kpc[0])
    inf = propagation_horizon(cfg, SUN, E, math.inf)
    assert np.all(inf.lambda_par_kpc > h.lambda_par_kpc) and inf.tail_fraction < 1e-3
    # ... but not for protons, whose pion losses grow only ∝ E
    with pytest.raises(ValueError, match="does not converge"):
        propagation_horizon(dict(cfg, species={"name": "proton"}), SUN, E, math.inf)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--at=0,0,10"], "outside the halo"),
        (["--at=-30,0,0"], "outside the halo"),
        (["--at=1,2"], "--at '1,2' must be 3 comma-separated numbers"),
        (["--at=a,b,c"], "must be 3 comma-separated numbers"),
        (["--energy-range", "100,10"], "needs 0 < EMIN < EMAX"),
        (["--energy-range", "10,10"], "needs 0 < EMIN < EMAX"),
        (["--energy-range", "10"], "must be 2 comma-separated numbers"),
        (["--set", "losses.model=none"], "losses.model = 'none'"),
        (["--set", "diffusion.epsilon=7"], "diffusion.epsilon"),
        (["--set", "nonsense"], "must be KEY=VALUE"),
        (["--species", "proton", "--horizon", "--source-energy", "inf"], "does not converge"),
        (["no_such_file.toml"], "does not exist"),
    ],
)
def test_bad_input_is_one_clear_line(argv, message, capsys, tmp_path):
    assert main(["losses", *argv, "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sdeprop: error:") and message in err and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_horizon_rejects_a_point_outside_the_halo():
    with pytest.raises(ValueError, match="outside the halo"):
        propagation_horizon(
            {"species": {"name": "electron"}, "losses": {"model": "galactic"}}, [0.0, 0.0, 4.0], 10.0
        )
    with pytest.raises(ValueError, match="no energy losses"):
        propagation_horizon({}, SUN, 10.0)
