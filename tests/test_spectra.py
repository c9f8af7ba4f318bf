"""Spectral shapes, their integrals, and the per-bin rates used by the reweighting."""

import numpy as np
import pytest
from scipy import integrate

from sdeprop.models.sources import EnergySampler
from sdeprop.spectra import (
    Function,
    LogUniform,
    PowerLaw,
    PowerLawCutoff,
    SmoothBrokenPowerLaw,
    Tabulated,
    bin_rates,
    bin_weights,
    parse_spectrum,
)
from sdeprop.units import PROTON_MASS_GEV as MP


@pytest.mark.parametrize(
    "spec",
    [
        PowerLaw(2.2, "kinetic_energy"),
        PowerLaw(2.4, "rigidity"),
        PowerLawCutoff(2.0, 300.0, "momentum"),
        SmoothBrokenPowerLaw(2.0, 2.6, 50.0, 0.2),
        LogUniform(),
        Function(lambda x: x**-1.5 * (1 + x / 10) ** -1),
    ],
)
def test_integral_matches_quad(spec):
    lo, hi = 1.3, 700.0
    ours = spec.integral(lo, hi, MP, 1.0)[0]
    ref = integrate.quad(lambda e: spec.dq_dT(np.array([e]), MP, 1.0)[0], lo, hi, limit=200, epsrel=1e-10)[0]
    assert ours == pytest.approx(ref, rel=1e-6)


def test_momentum_jacobian():
    """dQ/dT = dQ/dp · dp/dT with dp/dT = E/p = 1/beta."""
    T = np.array([0.5, 5.0])
    p = np.sqrt(T * (T + 2 * MP))
    np.testing.assert_allclose(PowerLaw(2.0, "momentum").dq_dT(T, MP, 1.0), p**-2 * (T + MP) / p)


def test_broken_power_law_slopes():
    s = SmoothBrokenPowerLaw(1.8, 2.7, 100.0, 0.05, "kinetic_energy")
    lo = np.log(s.dq_dx(np.array([1.0, 1.1])))
    hi = np.log(s.dq_dx(np.array([1e4, 1.1e4])))
    assert -(lo[1] - lo[0]) / np.log(1.1) == pytest.approx(1.8, rel=1e-3)
    assert -(hi[1] - hi[0]) / np.log(1.1) == pytest.approx(2.7, rel=1e-3)


def test_log_uniform_rates_equal_rate_over_n():
    edges = np.geomspace(1.0, 1000.0, 7)
    s = EnergySampler(1.0, 1000.0)
    r = bin_rates(LogUniform(), edges, s, 500, MP, 1.0, rate_per_Myr=3.0)
    np.testing.assert_allclose(r, 3.0 / 500, rtol=1e-10)


def test_rates_for_power_law_sampling_are_flat_for_same_spectrum():
    edges = np.geomspace(1.0, 1000.0, 5)
    s = EnergySampler(1.0, 1000.0, "power_law", 2.2)
    r = bin_rates(PowerLaw(2.2, "kinetic_energy"), edges, s, 100, MP, 1.0)
    np.testing.assert_allclose(r, 1.0 / 100, rtol=1e-10)


def test_rates_outside_injection_range_are_zero():
    edges = np.geomspace(0.1, 100.0, 4)  # first bin lies below E_min = 1
    s = EnergySampler(1.0, 10.0)
    r = bin_rates(PowerLaw(2.0), edges, s, 10, MP, 1.0)
    assert r[0] == 0.0 and r[-1] == 0.0 and r[1] > 0


def test_tabulated_and_parse():
    t = Tabulated([1.0, 10.0, 100.0], [1.0, 1e-2, 1e-4])
    np.testing.assert_allclose(t.dq_dx(np.array([3.0])), 3.0**-2, rtol=1e-12)
    with pytest.raises(ValueError):
        Tabulated([1.0, 1.0], [1.0, 2.0])
    spec, rate = parse_spectrum("power_law_cutoff:index=2.1,cutoff=1e5,rate_per_Myr=2")
    assert isinstance(spec, PowerLawCutoff) and spec.cutoff == 1e5 and rate == 2.0
    from sdeprop.config import ConfigError

    with pytest.raises(ConfigError, match="invalid spectrum"):
        parse_spectrum("power_law:index=abc")


def test_energy_sampler_distribution():
    rng = np.random.default_rng(1)
    s = EnergySampler(1.0, 100.0, "power_law", 2.5)
    e = s.sample(rng, 200000)
    edges = np.geomspace(1, 100, 6)
    counts = np.histogram(e, edges)[0]
    expect = s.bin_probability(edges) * e.size
    assert np.all(np.abs(counts - expect) < 5 * np.sqrt(expect))


def test_linear_weights_reproduce_importance_weight():
    """a_j + b_j v is the least-squares line of W(E0) = S/(N g) in each bin; for W linear in v it is exact."""
    edges = np.geomspace(1.0, 1000.0, 4)
    s = EnergySampler(1.0, 1000.0)
    spec = PowerLaw(2.2, "kinetic_energy")
    a, b = bin_weights(spec, edges, s, 1000, MP, 1.0)
    # direct least-squares fit on a fine, log-uniform grid in each bin
    total = spec.integral(1.0, 1000.0, MP, 1.0)[0]
    for j in range(3):
        lo, hi = np.log(edges[j]), np.log(edges[j + 1])
        x = np.linspace(lo, hi, 20001)
        e = np.exp(x)
        w = spec.dq_dT(e, MP, 1.0) / total / (1000 * s.pdf(e))
        v = (x - 0.5 * (lo + hi)) / (hi - lo)
        slope, intercept = np.polyfit(v, w, 1)
        assert a[j] == pytest.approx(intercept, rel=1e-4)
        assert b[j] == pytest.approx(slope, rel=1e-4)
    # the bin-average of the line is the bin-averaged rate
    np.testing.assert_allclose(a, bin_rates(spec, edges, s, 1000, MP, 1.0), rtol=1e-10)
