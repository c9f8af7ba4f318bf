"""The Cerri et al. 2017 reproduction's run files (runs/cerri17/) load, and say what their names say:
the backward estimator at nine energies over 10-1000 GeV, D∥ = D0 (p/GeV)^0.3 without β, the toy
field's ε_B and H, the realistic field's ε_D and δ⊥ (docs/cerri17.md)."""

from pathlib import Path

import numpy as np
import pytest

from sdeprop.config import load_config

RUNS = Path(__file__).resolve().parents[1] / "runs" / "cerri17"
TOY = {
    "toy_eB0.2_H4": (0.2, 4.0),
    "toy_eB0.5_H4": (0.5, 4.0),
    "toy_eB1_H4": (1.0, 4.0),
    "toy_eB0.5_H2": (0.5, 2.0),
}
FIELD = {f"field_eD{e}_dperp{d}": (e, d) for e in (0.1, 0.01) for d in (0.5, 0.7)}


def test_the_run_files_are_the_scan():
    assert sorted(p.stem for p in RUNS.glob("*.toml")) == sorted([*TOY, *FIELD])


@pytest.mark.parametrize("name", [*TOY, *FIELD])
def test_run_file(name):
    cfg = load_config(RUNS / f"{name}.toml")
    assert cfg.run.name == name
    assert cfg.estimator.method == "backward"
    assert np.allclose(cfg.observer.energies(), 10.0 ** (1 + np.arange(9) / 4))
    d = cfg.diffusion
    assert (d.beta, d.reference_rigidity_GV, d.delta_par, cfg.spectrum.index) == (False, 1.0, 0.3, 2.2)
    assert (cfg.galaxy.radius_max_kpc, cfg.source.a, cfg.source.b, cfg.source.z0_kpc) == (20.0, 1.9, 5.0, 0.2)
    if name in TOY:
        eps_B, H = TOY[name]
        assert (cfg.field.model, cfg.field.R0_kpc, cfg.field.epsilon_B) == ("cerri_toy", 3.5, eps_B)
        assert (cfg.galaxy.halo_height_kpc, d.epsilon, d.delta_perp) == (H, 0.01, 0.7)
    else:
        eps_D, dperp = FIELD[name]
        assert (cfg.field.model, cfg.galaxy.halo_height_kpc) == ("cerri17", 4.0)
        assert (d.epsilon, d.delta_perp) == (eps_D, dperp)
