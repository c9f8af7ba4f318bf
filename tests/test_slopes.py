"""The local spectral index α (sdeprop.slopes.spectral_index and ``sdeprop slope``): exact on power laws,
the weighted-least-squares error, bin averaging, z averages, every kind of input, a tiny real run
against the closed form n ∝ Q(E)/D(E), the command and its refusals."""

from __future__ import annotations

import csv
import math
from types import SimpleNamespace

import numpy as np
import pytest

from sdeprop.cli import main
from sdeprop.result import Density, ObserverTally
from sdeprop.slopes import spectral_index
from sdeprop.spectra import PowerLaw
from sdeprop.units import PROTON_MASS_GEV

E_EDGES = np.geomspace(1.0, 1.0e4, 17)  # 4 bins per decade, as a tally has them
R_EDGES = np.linspace(0.0, 20.0, 5)
Z_EDGES = np.array([-4.0, -1.0, 0.0, 0.5, 4.0])  # unequal widths: the z average weights by volume


def bin_mean_power_law(alpha, edges):
    """(1/ΔE) ∫ E^-α dE over each bin, α broadcast against the bins (last axis)."""
    lo, hi = edges[:-1], edges[1:]
    a = np.asarray(alpha, float)[..., None]
    return (hi ** (1 - a) - lo ** (1 - a)) / ((1 - a) * (hi - lo))


def synthetic(alpha, rel_err):
    """A cylindrical (R, z, E) density n = 3 × bin mean of E^-α(R, z) with relative errors ``rel_err``."""
    n = 3.0 * bin_mean_power_law(alpha, E_EDGES)
    return n, rel_err * n


def wls_reference(e, n, dn):
    """α, σ_α and χ² of ln n against ln E written out: weights (n/σ)², σ_α² = 1/Σw(x − x̄)²."""
    x, y, w = np.log(e), np.log(n), (n / dn) ** 2
    xbar = np.sum(w * x) / np.sum(w)
    sxx = np.sum(w * (x - xbar) ** 2)
    b = np.sum(w * (x - xbar) * y) / sxx
    a = np.sum(w * (y - b * x)) / np.sum(w)
    return -b, 1.0 / math.sqrt(sxx), float(np.sum(w * (y - a - b * x) ** 2))


# ----------------------------------------------------------------------------- synthetic
def test_power_law_per_cell_is_recovered_exactly_with_the_analytic_error():
    alpha = 2.4 + 0.1 * np.arange(4)[:, None] + 0.03 * np.arange(4)[None, :]
    rel = np.linspace(0.02, 0.2, 16)  # unequal relative errors across the bins
    n, dn = synthetic(alpha, rel)
    edges = {"R_kpc": R_EDGES, "z_kpc": Z_EDGES, "E_GeV": E_EDGES}
    idx = spectral_index(n, (10, 1000), edges=edges, uncertainty=dn, z_range=None)
    assert idx.alpha.shape == (4, 4) and idx.dof == 8 - 2
    np.testing.assert_allclose(idx.alpha, alpha, rtol=0, atol=1e-12)
    np.testing.assert_allclose(idx.chi2, 0.0, atol=1e-18)
    inside = slice(4, 12)  # bins 10^1 .. 10^3 GeV
    e = np.sqrt(E_EDGES[:-1] * E_EDGES[1:])[inside]
    np.testing.assert_allclose(idx.energies_GeV, e)
    _, sigma, _ = wls_reference(e, n[0, 0, inside], dn[0, 0, inside])
    np.testing.assert_allclose(idx.sigma, sigma, rtol=1e-12)  # the same in every cell: σ/n is
    x, w = np.log(e), 1.0 / rel[inside] ** 2
    assert sigma == pytest.approx(1.0 / math.sqrt(np.sum(w * (x - np.sum(w * x) / np.sum(w)) ** 2)))
    # the fitted point value at the pivot: 3 E^-α (the bin average corrected out)
    np.testing.assert_allclose(idx.density_at_pivot, 3.0 * idx.pivot_GeV ** (-alpha), rtol=1e-10)


def test_noisy_spectrum_matches_the_written_out_least_squares():
    rng = np.random.default_rng(3)
    n, dn = synthetic(np.full(3, 2.7), np.full(16, 0.1))
    n = n * (1 + 0.1 * rng.standard_normal(n.shape))
    idx = spectral_index(Density(n[0], dn[0], {"E_GeV": E_EDGES}), (10, 1000))
    e = np.sqrt(E_EDGES[:-1] * E_EDGES[1:])[4:12]
    a, s, c = wls_reference(e, n[0, 4:12], dn[0, 4:12])
    assert idx.alpha == pytest.approx(a, abs=1e-12)  # log-uniform bins: the plain fit on the centres
    assert idx.sigma == pytest.approx(s, rel=1e-12)
    assert idx.chi2 == pytest.approx(c, rel=1e-10)
    assert idx.kind == "sphere" and idx.shape == ()


def test_bin_averaging_is_corrected_in_uneven_bins():
    edges = np.array([1.0, 3.0, 10.0, 20.0, 100.0, 150.0, 1000.0])
    n = 2.0 * bin_mean_power_law(2.7, edges)
    idx = spectral_index(n, (1, 1000), edges={"E_GeV": edges}, uncertainty=0.1 * n)
    assert idx.alpha == pytest.approx(2.7, abs=1e-10)
    assert idx.chi2 == pytest.approx(0.0, abs=1e-16)
    # without errors: equal weights, σ and χ² unknown, the residual measures the curvature
    plain = spectral_index(n, (1, 1000), edges={"E_GeV": edges})
    assert plain.alpha == pytest.approx(2.7, abs=1e-10)
    assert math.isnan(plain.sigma) and math.isnan(plain.chi2) and plain.max_residual < 1e-10
    # a plain fit on the centres would be biased here: E^-α at the centres is not the bin mean
    e = np.sqrt(edges[:-1] * edges[1:])
    assert abs(wls_reference(e, n, 0.1 * n)[0] - 2.7) > 1e-3


def test_z_average_is_volume_weighted_with_errors_in_quadrature():
    alpha = np.array([[2.5, 2.6, 2.7, 2.8]] * 4)
    n, dn = synthetic(alpha, np.full(16, 0.05))
    edges = {"R_kpc": R_EDGES, "z_kpc": Z_EDGES, "E_GeV": E_EDGES}
    plane = spectral_index(n, (10, 1000), edges=edges, uncertainty=dn)  # z bins meeting at z = 0: 1 and 2
    assert plane.z_range_kpc == (-1.0, 0.5) and plane.alpha.shape == (4,)
    w = np.array([1.0, 0.5]) / 1.5
    np.testing.assert_allclose(plane.density, np.tensordot(n[:, 1:3, 4:12], w, axes=([1], [0])))
    np.testing.assert_allclose(
        plane.uncertainty, np.sqrt(np.tensordot(dn[:, 1:3, 4:12] ** 2, w**2, axes=([1], [0])))
    )
    assert np.all((plane.alpha > 2.6) & (plane.alpha < 2.7))  # a mixture of 2.6 and 2.7
    wide = spectral_index(n, (10, 1000), edges=edges, uncertainty=dn, z_range=(-5, 5))
    assert wide.z_range_kpc == (-4.0, 4.0) and "4 z bins" in wide.notes[0]


def test_two_bins_give_a_line_through_both_and_no_degree_of_freedom():
    n, dn = synthetic(np.full(1, 2.2), np.full(16, 0.1))
    idx = spectral_index(n[0], (10, 10**1.5), edges={"E_GeV": E_EDGES}, uncertainty=dn[0])
    assert idx.dof == 0 and idx.chi2 == pytest.approx(0.0, abs=1e-20)
    assert idx.alpha == pytest.approx(2.2)
    assert idx.sigma == pytest.approx(math.sqrt(2) * 0.1 / math.log(10**0.25))


# ----------------------------------------------------------------------------- inputs
def _fake_observer(energies, density, uncertainty):
    """An ObserverTally holding given point densities (its reweighting is tested elsewhere)."""
    t = ObserverTally.__new__(ObserverTally)
    t.layout = SimpleNamespace(energies_GeV=np.asarray(energies))
    t.name, t.spectrum, t.rate_per_Myr = "observer", PowerLaw(2.3, "rigidity"), 1.0
    t._default = Density(np.asarray(density), np.asarray(uncertainty), {"E_GeV": np.asarray(energies)})
    return t


def test_observer_energies_are_points_without_bin_correction():
    e = np.geomspace(3.0, 3000.0, 7)
    n = 5.0 * e**-2.85
    t = _fake_observer(e, n, 0.04 * n)
    idx = spectral_index(t, (10, 1000))
    assert idx.kind == "observer" and idx.energy_edges_GeV is None and idx.shape == ()
    np.testing.assert_allclose(idx.energies_GeV, e[2:6])  # 9.5 GeV lies outside
    assert idx.alpha == pytest.approx(2.85, abs=1e-12)
    a, s, _ = wls_reference(e[2:6], n[2:6], 0.04 * n[2:6])
    assert idx.sigma == pytest.approx(s, rel=1e-12)


def test_grid_answers_report_dict_and_npz(tmp_path):
    from sdeprop.crosscheck import CrosscheckReport

    alpha = np.full((4, 4), 2.6)
    n, dn = synthetic(alpha, np.full(16, 0.01))
    edges = {"R_kpc": R_EDGES, "z_kpc": Z_EDGES, "E_GeV": E_EDGES}
    rep = CrosscheckReport(
        tally="t", edges=edges, mc=n, mc_err=dn, grid=n, grid_coarse=n, grid_err=dn, pull=0 * n,
        used=n > 0, chi2=0.0, dof=0, p_value=1.0, resolutions_kpc=(0.2, 0.1), timings={},
        residuals={}, counts={},
    )  # fmt: skip
    by_report = spectral_index(rep, (10, 1000))
    by_dict = spectral_index({"fine": n, "err": dn}, (10, 1000), edges=edges)
    np.savez(
        tmp_path / "crosscheck.npz", grid=n, grid_err=dn, mc=n, **{f"edges_{k}": v for k, v in edges.items()}
    )
    by_npz = spectral_index(tmp_path / "crosscheck.npz", (10, 1000))
    for idx in (by_report, by_dict, by_npz):
        np.testing.assert_allclose(idx.alpha, 2.6, atol=1e-12)
        assert "grid answer" in idx.source
    np.testing.assert_allclose(by_report.sigma, by_npz.sigma)
    with pytest.raises(ValueError, match="needs edges="):
        spectral_index({"fine": n}, (10, 1000))


# ----------------------------------------------------------------------------- refusals
def test_refusals_name_the_problem():
    n, dn = synthetic(np.full((4, 4), 2.6), np.full(16, 0.05))
    edges = {"R_kpc": R_EDGES, "z_kpc": Z_EDGES, "E_GeV": E_EDGES}
    with pytest.raises(ValueError, match=r"holds 1 whole energy bins.*at least 2"):
        spectral_index(n, (10, 20), edges=edges, uncertainty=dn)
    with pytest.raises(ValueError, match="0 < low < high"):
        spectral_index(n, (100, 10), edges=edges, uncertainty=dn)
    holed = n.copy()
    holed[3, 2, 9] = 0.0
    holed[1, 0, 5] = -1.0
    with pytest.raises(
        ValueError, match=r"2 cell\(s\).*\(R 5\.\.10, z -4\.\.-1\); \(R 15\.\.20, z 0\.\.0\.5\)"
    ):
        spectral_index(holed, (10, 1000), edges=edges, uncertainty=dn, z_range=None)
    skipped = spectral_index(holed, (10, 1000), edges=edges, uncertainty=dn, z_range=None, empty="nan")
    assert np.isnan(skipped.alpha[3, 2]) and np.isnan(skipped.alpha[1, 0])
    assert np.isfinite(skipped.alpha).sum() == 14
    with pytest.raises(ValueError, match="no z bin has its centre"):
        spectral_index(n, (10, 1000), edges=edges, uncertainty=dn, z_range=(5, 6))
    with pytest.raises(ValueError, match="shape"):
        spectral_index(n[..., :5], (10, 1000), edges=edges)
    with pytest.raises(TypeError, match="cannot take the spectral index of a list"):
        spectral_index([1.0, 2.0], (10, 1000))
    with pytest.raises(ValueError, match="spectrum= reweights a result"):
        spectral_index(n, (10, 1000), edges=edges, spectrum=PowerLaw(2.0))


# ----------------------------------------------------------------------------- a real run
PARTICLES = 3000


@pytest.fixture(scope="module")
def proton_run(tmp_path_factory):
    """Protons from a point at the Sun, isotropic diffusion (ε = 1) in a uniform field, no losses."""
    import sdeprop
    from sdeprop.io import write_result

    cfg = {
        "run": {"particles": PARTICLES, "batch_size": 1000, "seed": 11, "progress": False,
                "max_cpu_hours": 0, "workers": 1},
        "energy": {"min_GeV": 10.0, "max_GeV": 1000.0},
        "galaxy": {"halo_height_kpc": 2.0, "radius_max_kpc": 15.0},
        "field": {"model": "uniform", "direction": [0.0, 0.0, 1.0]},
        "diffusion": {"epsilon": 1.0, "delta_par": 0.5, "reference_rigidity_GV": 4.0},
        "source": {"type": "point", "position_kpc": [-8.3, 0.0, 0.0]},
        "spectrum": {"type": "power_law", "index": 2.3, "variable": "kinetic_energy"},
        "tally": [
            {"name": "map", "type": "cylindrical", "R_bins": 6, "z_bins": 4, "energy_bins": 8},
            {"name": "sun", "type": "sphere", "radius_kpc": 1.0, "energy_bins": 8},
        ],
    }  # fmt: skip
    result = sdeprop.run(cfg)
    path = tmp_path_factory.mktemp("slope") / "protons.h5"
    write_result(result, path)
    return result, path


def closed_form_alpha(edges):
    """α over the bins of n ∝ Q(T)/D(T) = T^-2.3/(β (R/4 GV)^0.5), their bin means by quadrature: the
    density of a loss-free source whose spatial shape does not depend on energy (D = D(E) f(x))."""
    m = PROTON_MASS_GEV
    means = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        t = np.geomspace(lo, hi, 4001)
        p = np.sqrt(t * (t + 2 * m))
        f = t**-2.3 / ((p / (t + m)) * (p / 4.0) ** 0.5)
        means.append(np.trapezoid(f * t, np.log(t)) / (hi - lo))
    return float(spectral_index(np.array(means), (edges[0], edges[-1]), edges={"E_GeV": edges}).alpha)


def test_index_at_the_sun_is_injection_plus_delta(proton_run):
    result, _ = proton_run
    idx = spectral_index(result, (10, 1000), tally="sun")
    expected = closed_form_alpha(result.tallies["sun"].edges["E_GeV"])
    assert 2.75 < expected < 2.8  # 2.3 + 0.5, steepened by p(T) and β(T) at 10 GeV
    assert idx.sigma < 0.05
    assert abs(idx.alpha - expected) < 3 * idx.sigma, (idx.alpha, idx.sigma, expected)
    # the ring holding the Sun (z bins meeting at 0) sees the same spectrum
    ring = spectral_index(result, (10, 1000), tally="map", empty="nan")
    k = np.searchsorted(ring.axes["R_kpc"], 8.3) - 1
    assert abs(ring.alpha[k] - expected) < 3 * ring.sigma[k]


def test_reweighting_shifts_the_index_by_the_index_change(proton_run):
    result, _ = proton_run
    base = spectral_index(result, (10, 1000), tally="sun")
    steeper = spectral_index(result, (10, 1000), tally="sun", spectrum=PowerLaw(2.7, "kinetic_energy"))
    assert steeper.alpha - base.alpha == pytest.approx(0.4, abs=0.003)  # measured 0.3994
    assert "index=2.7" in steeper.source


def test_cli_table_csv_plot_and_refusals(proton_run, tmp_path, capsys):
    _, path = proton_run
    out_csv, out_png = tmp_path / "a.csv", tmp_path / "a.png"
    argv = ["slope", str(path), "--window", "10,1000", "--tally", "map", "--z-range=-0.6,0.6"]
    assert main(argv + ["--skip-empty", "--csv", str(out_csv), "--plot", str(out_png)]) == 0
    text = capsys.readouterr().out
    assert "tally 'map' (cylindrical)" in text and "alpha" in text and f"wrote {out_csv}" in text
    rows = list(csv.DictReader(line for line in out_csv.open() if not line.startswith("#")))
    assert [float(r["R_lo_kpc"]) for r in rows] == [0.0, 2.5, 5.0, 7.5, 10.0, 12.5]
    sun = rows[3]
    assert 2.6 < float(sun["alpha"]) < 2.95 and 0 < float(sun["sigma"]) < 0.1
    assert out_png.stat().st_size > 1000
    assert (
        main(
            ["slope", str(path), "--tally", "map", "--z-range", "0.6", "--skip-empty", "--csv", str(out_csv)]
        )
        == 0
    )
    assert "averaged over z = -1..1 kpc (2 z bins)" in capsys.readouterr().out
    assert main(["slope", str(path), "--tally", "sun", "--plot", str(tmp_path / "s.png")]) == 0
    assert "tally 'sun' (sphere)" in capsys.readouterr().out
    assert main(["slope", str(path), "--per-cell", "--skip-empty"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3 + 24  # comments, header, 6 × 4 cells

    def refused(args, pattern):
        assert main(["slope", str(path), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("sdeprop: error: ") and len(err.strip().splitlines()) == 1, err
        assert pattern in err, err

    refused(["--tally", "nope"], "no tally 'nope' in the result; it has map, sun")
    refused(["--window", "10,20"], "a slope needs at least 2")
    refused(["--window", "10"], "--window '10' must be 2 comma-separated numbers")
    refused(["--spectrum", "power_law:index=2.7,variable=tribble"], "variable")
    refused(["--z-range", "3,4"], "no z bin has its centre in 3..4 kpc")
    refused(["--z-range", "1,2,3"], "must be LO,HI or H")
    npz = tmp_path / "crosscheck.npz"
    n, dn = synthetic(np.full((4, 4), 2.6), np.full(16, 0.05))
    n[2, 1, 6] = 0.0
    np.savez(npz, grid=n, grid_err=dn, edges_R_kpc=R_EDGES, edges_z_kpc=Z_EDGES, edges_E_GeV=E_EDGES)
    assert main(["slope", str(npz), "--per-cell", "--window", "100,1000"]) == 0
    assert "grid answer of" in capsys.readouterr().out
    path = npz  # the refusals below read the grid answer
    refused(["--tally", "map"], "--spectrum and --tally apply to a result file")
    refused(["--per-cell"], "1 cell(s) of grid answer of")
    refused(["--per-cell"], "(R 10..15, z -1..0)")
