"""The default t_max (engine._auto_regimes) does not cut histories short at small anisotropy ε = D⊥/D∥.

Set-up: protons in the Cerri et al. (2017) toy field (B_z/B_φ = ε_B e^(−R/R0)/(1 − e^(−R/R0)), a few
per cent at the Sun, so the field lines there take ~30 kpc of path per kpc of height), ε = 0.003,
the quickstart source profile, an escaping halo of H = 4 kpc.  Where b_z² ≲ ε the vertical transport
is D⊥ alone, with mean escape time H²/(2 D⊥) for a start at z = 0 (slab first-passage time,
Redner 2001, "A Guide to First-Passage Processes", ch. 2); the default t_max = 5 H²/(2 D⊥) leaves
(4/π) exp(−5π²/8) ≈ 0.27 % of such particles alive even in the worst case (all of them pure-D⊥), and
measured with 20 000 particles over 10–1000 GeV (docs/numerics.md, 'Time regimes: the default
t_max'): 0 alive.  The old default, D_min = max(D⊥, 0.01 D∥), left 1.3 % alive there and 59 of 2000
(3 %) in the coarser-stepped set-up below.

Tolerance: the claim is p = P(alive at t_max) ≤ 1e-3; the count of N particles alive at t_max is
compared with the 1 − 1e-6 quantile of Binomial(N, 1e-3), which a run meeting the claim exceeds with
probability below 1e-6.  The same run at the old default's t_max (given explicitly) must exceed it:
the test has the power to see the truncation it guards against.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.stats import binom

from sdeprop import kernel as K
from sdeprop import run
from sdeprop.config import load_config
from sdeprop.engine import _auto_regimes
from sdeprop.models.diffusion import diffusion_at

N = 2000
EPS = 0.003
H_KPC = 4.0
E_MIN, E_MAX = 10.0, 20.0
P_CLAIM = 1e-3
BOUND = int(binom.ppf(1.0 - 1e-6, N, P_CLAIM))


def _config(**time):
    return load_config(
        {
            "run": {"particles": N, "batch_size": N, "seed": 11, "progress": False, "max_cpu_hours": 0},
            "energy": {"min_GeV": E_MIN, "max_GeV": E_MAX},
            "galaxy": {"halo_height_kpc": H_KPC, "radius_max_kpc": 20.0},
            "field": {"model": "cerri_toy", "B0_phi_uG": 3.0, "R0_kpc": 3.0, "epsilon_B": 0.5},
            "diffusion": {"D0_cm2_per_s": 3.0e28, "delta_par": 0.5, "epsilon": EPS},
            "source": {"type": "radial_profile", "a": 1.9, "b": 5.0, "R_sun_kpc": 8.3, "z0_kpc": 0.2},
            "time": {"step_fraction": 0.3, **time},
            "tally": [{"name": "sun", "type": "sphere", "radius_kpc": 0.5, "energy_bins": 1}],
        }
    )


def _old_default_t_max(cfg) -> float:
    dpar, dperp = diffusion_at(cfg.diffusion, cfg.species.name, np.array([E_MIN]))
    return 5.0 * H_KPC**2 / (2.0 * max(dperp[0], 0.01 * dpar[0]))


def test_default_t_max_leaves_no_history_cut(caplog):
    cfg = _config()
    t_max = float(_auto_regimes(cfg).t_max_Myr[0])
    dpar, dperp = diffusion_at(cfg.diffusion, cfg.species.name, np.array([E_MIN]))
    assert np.isclose(t_max, 5.0 * H_KPC**2 / (2.0 * dperp[0]), rtol=1e-12)
    with caplog.at_level(logging.WARNING, logger="sdeprop"):
        res = run(cfg, keep_state=True)
    alive = res.counts["alive_at_t_max"]
    assert alive <= BOUND, f"{alive} of {N} alive at the default t_max = {t_max:.4g} Myr (bound {BOUND})"
    assert res.counts["max_steps_reached"] == 0
    assert "still alive at t_max" not in caplog.text


def test_given_t_max_is_respected_and_old_default_truncates():
    cfg0 = _config()
    t_old = _old_default_t_max(cfg0)
    cfg = _config(regimes=[{"energy_max_GeV": E_MAX, "t_max_Myr": t_old}])
    assert _auto_regimes(cfg).t_max_Myr.tolist() == [t_old]
    res = run(cfg, keep_state=True)
    state = res.final_state
    assert state["time"].max() <= t_old * (1 + 1e-12)
    alive = state["status"] == K.AT_TMAX
    assert alive.sum() == res.counts["alive_at_t_max"]
    assert np.allclose(state["time"][alive], t_old, rtol=1e-12)
    assert res.counts["alive_at_t_max"] > BOUND
