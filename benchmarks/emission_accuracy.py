"""Accuracy and cost of the emission matrices (docs/emission.md): run with
``python benchmarks/emission_accuracy.py``.

Accuracy: max |matrix·n / naima(continuous n) − 1| for power laws and cutoff spectra, naima run
on the same truncated range with 400 points per decade.  Cost: wall time of one uncached build
for 60 particle bins × 20 output energies.
"""

from __future__ import annotations

import time

import astropy.units as u
import naima
import numpy as np
from naima.radiative import mec2

from sdeprop import emission
from sdeprop.emission import basis
from sdeprop.models.isrf import DELAHAYE10
from sdeprop.units import KPC_CM, PROTON_MASS_GEV

TO_MATRIX_UNITS = 1.0 / (4.0 * np.pi * KPC_CM**3)
ME = mec2.to_value(u.GeV)


def naima_reference(model, rest, edges, photon):
    model._memoize = False
    if isinstance(model, naima.models.PionDecay):
        model.Epmin = max(edges[0] + rest, model.Epmin.to_value(u.GeV)) * u.GeV
        model.Epmax, model.nEpd = (edges[-1] + rest) * u.GeV, 400
    else:
        model.Eemin, model.Eemax, model.nEed = (edges[0] + rest) * u.GeV, (edges[-1] + rest) * u.GeV, 400
    return model.flux(photon * u.GeV, distance=0).to_value(1 / (u.s * u.GeV)) * TO_MATRIX_UNITS


def of_total(n, rest):
    return lambda E: n(np.maximum(E.to_value(u.GeV) - rest, 1e-30)) / u.GeV


def deviation_row(process, label, ours, reference, photon, limits):
    cells = []
    for limit in limits:
        keep = (photon <= limit) & (reference > 0)
        cells.append(f"{100 * np.max(np.abs(ours[keep] / reference[keep] - 1)):.2f}")
    print(f"| {process} | {label} | " + " | ".join(cells) + " |")


def main():
    p_edges, e_edges = np.logspace(0, 5, 51), np.logspace(-2, 4, 61)
    print("| process | particle spectrum | max dev. [%] E ≤ E_max/10 (and ≤ E_cut) | E ≤ E_max/3 |")
    print("|---|---|---|---|")
    for label, n, cut in [("T^-2.7", lambda T: T**-2.7, np.inf), ("T^-2.2", lambda T: T**-2.2, np.inf),
                          ("T^-2.7 e^(-T/3 TeV)", lambda T: T**-2.7 * np.exp(-T / 3e3), 3e3)]:  # fmt: skip
        photon = np.logspace(-1, 5, 31)
        ours = emission.pion_decay_matrix(p_edges, photon).apply(basis.sample_at_centres(n, p_edges))
        ref = naima_reference(naima.models.PionDecay(of_total(n, PROTON_MASS_GEV), useLUT=False),
                              PROTON_MASS_GEV, p_edges, photon)  # fmt: skip
        deviation_row("π⁰ (Kafexhiu)", label, ours, ref, photon, [min(1e4, cut), 1e5 / 3])
        photon = np.logspace(2, 4.5, 11)
        ours = emission.kelner_gamma_matrix(p_edges, photon).apply(basis.sample_at_centres(n, p_edges))

        def dist(E, n=n):
            T = np.atleast_1d(E.to_value(u.GeV)) - PROTON_MASS_GEV
            v = np.where((T >= p_edges[0]) & (T <= p_edges[-1]), n(np.abs(T)), 0.0)
            return (v if np.ndim(E) else float(v[0])) / u.GeV

        model = naima.radiative.PionDecayKelner06(dist)
        model._memoize = False
        ref = model.flux(photon * u.GeV, distance=0).to_value(1 / (u.s * u.GeV)) * TO_MATRIX_UNITS
        deviation_row("γ (KAB06)", label, ours, ref, photon, [min(1e4, cut), 1e5 / 3])
    fields = [[f"c{i}", t * u.K, U * u.eV / u.cm**3] for i, (t, U) in enumerate(DELAHAYE10)]
    electron_cases = [
        ("T^-3.0", lambda T: T**-3.0, np.inf),
        ("T^-2.2", lambda T: T**-2.2, np.inf),
        ("T^-3.0 e^(-T/300 GeV)", lambda T: T**-3.0 * np.exp(-T / 300.0), 300.0),
    ]
    for label, n, cut in electron_cases:
        photon = np.logspace(-4, 4, 33)
        density = basis.sample_at_centres(n, e_edges)
        ours = sum(m.apply(density) for m in emission.inverse_compton_matrices(e_edges, photon))
        ref = naima_reference(naima.models.InverseCompton(of_total(n, ME), seed_photon_fields=fields), ME,
                              e_edges, photon)  # fmt: skip
        deviation_row("IC (6 grey bodies)", label, ours, ref, photon, [min(1e3, cut), 1e4 / 3])
        photon = np.logspace(-1, 4, 21)
        ours = emission.bremsstrahlung_matrix(e_edges, photon).apply(density)
        model = naima.models.Bremsstrahlung(of_total(n, ME), n0=1.1 / u.cm**3, weight_ee=1.2 / 1.1,
                                            weight_ep=1.4 / 1.1)  # fmt: skip
        ref = naima_reference(model, ME, e_edges, photon)
        deviation_row("bremsstrahlung", label, ours, ref, photon, [min(1e3, cut), 1e4 / 3])

    print("\nbasis interpolation error, 10 bins/decade, max over T between the first and last centres:")
    T = np.logspace(0.05, 4.95, 4001)
    for alpha_ref in (2.7, 3.0):
        for slope in (2.0, 2.2, 2.7, 3.0, 3.5):
            values = basis.sample_at_centres(lambda t: t**-slope, p_edges)
            err = basis.reconstruct_density(p_edges, values, T, alpha_ref) / T**-slope - 1
            print(f"  alpha_ref {alpha_ref}, slope {slope}: {100 * np.max(np.abs(err)):.3f} %")

    print("\nbuild time, 60 particle bins × 20 output energies (uncached):")
    emission.clear_cache()
    edges60, lepton60 = np.logspace(0, 6, 61), np.logspace(-2, 4, 61)
    builders = {
        "pion_decay_matrix": lambda: emission.pion_decay_matrix(edges60, np.logspace(-1, 4, 20)),
        "inverse_compton_matrices (6 components)": lambda: emission.inverse_compton_matrices(
            lepton60, np.logspace(-4, 3, 20)
        ),
        "bremsstrahlung_matrix": lambda: emission.bremsstrahlung_matrix(lepton60, np.logspace(-1, 3, 20)),
        "neutrino_matrix": lambda: emission.neutrino_matrix(edges60, np.logspace(2, 5, 20)),
        "pair_matrix": lambda: emission.pair_matrix(edges60, np.logspace(2, 5, 20)),
        "kelner_gamma_matrix": lambda: emission.kelner_gamma_matrix(edges60, np.logspace(2, 5, 20)),
    }
    for name, build in builders.items():
        start = time.perf_counter()
        build()
        first = time.perf_counter() - start
        start = time.perf_counter()
        build()
        print(f"  {name}: {first:.3f} s (cached: {1e6 * (time.perf_counter() - start):.0f} µs)")


if __name__ == "__main__":
    main()
