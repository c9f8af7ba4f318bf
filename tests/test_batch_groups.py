"""Batch groups ([[tally]] batch_groups): per-group sums whose scatter gives errors with every correlation.

Oracles: the particle-weighted mean of the group densities is the tally's density (the groups
partition the batches); the group sums survive the file and add up under a merge; the scatter of
G equal independent estimates is s/√G; a sky map's group-scatter 1σ lies below the per-cell upper
bound (which holds whatever the correlations) at most pixels.
"""

from __future__ import annotations

import numpy as np
import pytest
from skymap_runs import BOX_TALLY, skymap_run_config

from sdeprop.engine import run
from sdeprop.errors import ConfigError
from sdeprop.io import load_result, merge_results, write_result
from sdeprop.skymap.maps import group_scatter, make_skymap

CONFIG = skymap_run_config(
    800,
    100,
    21,
    tally=[
        dict(BOX_TALLY, batch_groups=8),
        {"name": "plain", "type": "cylindrical", "R_bins": 4, "z_bins": 2, "energy_bins": 5},
    ],
)


@pytest.fixture(scope="module")
def result():
    return run(CONFIG)


def test_group_densities_average_to_the_density(result):
    t = result.tallies["box"]
    assert t.group_particles.tolist() == [100] * 8
    groups = t.group_densities()
    f = t.group_particles / t.n_injected
    np.testing.assert_allclose(
        np.tensordot(f, groups, axes=1), t.density, rtol=1e-10, atol=1e-14 * t.density.max()
    )
    assert result.tallies["plain"].group_sums is None
    with pytest.raises(ConfigError, match="batch_groups"):
        result.tallies["plain"].group_densities()


def test_groups_survive_the_file_and_add_under_a_merge(result, tmp_path):
    a = write_result(result, tmp_path / "a.h5")
    other = run(dict(CONFIG, run=dict(CONFIG["run"], seed=22)))
    b = write_result(other, tmp_path / "b.h5")
    back = load_result(a)
    np.testing.assert_array_equal(back.tallies["box"].group_sums, result.tallies["box"].group_sums)
    merged = merge_results([a, b])
    np.testing.assert_allclose(
        merged.tallies["box"].group_sums, result.tallies["box"].group_sums + other.tallies["box"].group_sums
    )
    assert merged.tallies["box"].group_particles.tolist() == [200] * 8


def test_group_scatter_of_equal_groups_is_the_standard_error():
    x = np.array([[1.0, 2.0], [3.0, 2.0], [2.0, 5.0], [6.0, 3.0]])
    np.testing.assert_allclose(group_scatter(x, np.full(4, 0.25)), x.std(axis=0, ddof=1) / 2.0)


def test_sky_map_error_from_the_groups(result):
    sky = make_skymap(result, [200.0, 2000.0], ("pp",), nside=4)
    assert sky.metadata["uncertainty"] == "batch-group scatter"
    assert sky.uncertainty_bound is not None and sky.group_intensity.shape == (8,) + sky.intensity.shape
    np.testing.assert_allclose(np.tensordot(sky.group_fractions, sky.group_intensity, axes=1), sky.intensity)
    ratio = sky.uncertainty / sky.uncertainty_bound
    print("group σ / bound: median", np.median(ratio))
    assert np.median(ratio) < 1.0
    plain = make_skymap(result, [200.0, 2000.0], ("pp",), nside=4, uncertainty="bound")
    np.testing.assert_allclose(plain.intensity, sky.intensity)
    np.testing.assert_allclose(plain.uncertainty, sky.uncertainty_bound)
    with pytest.raises(ConfigError, match="needs batch groups"):
        make_skymap(result, [200.0], ("pp",), nside=2, tally="plain", uncertainty="groups")


def test_batch_groups_of_one_are_refused():
    from sdeprop.config import load_config

    bad = dict(CONFIG, tally=[dict(CONFIG["tally"][0], batch_groups=1)])
    with pytest.raises(ConfigError, match="batch_groups"):
        load_config(bad)


def test_groups_resume_from_the_checkpoint_folder(tmp_path):
    """The accumulator's batch groups are saved with the folded prefix and come back on resume: the
    groups after a resumed run equal those of an uninterrupted one."""
    from types import SimpleNamespace

    from sdeprop.checkpoint import _SCALARS, BatchAccumulator

    rng = np.random.default_rng(0)
    scalars = {k: 0.0 for k in _SCALARS} | {"n_particles": 10, "steps": 100, "cpu_s": 0.1}
    batches = [
        SimpleNamespace(
            index=b, sums=rng.random((12, 5)), status_counts=np.zeros(6, dtype=np.int64), host="h", pid=1,
            **scalars,
        )
        for b in range(6)
    ]  # fmt: skip
    groups = [(4, 6, 3)]  # rows 4..9 of the sums keep 3 groups
    whole = BatchAccumulator(range(6), 12, 6, groups=groups)
    for res in batches:
        whole.add(res)
    folder = tmp_path / "run.partial"
    first = BatchAccumulator(range(6), 12, 6, folder=folder, fingerprint={"x": 1}, groups=groups)
    for res in batches[:4]:
        first.add(res)
    resumed = BatchAccumulator(range(6), 12, 6, folder=folder, fingerprint={"x": 1}, groups=groups)
    assert resumed.done == {0, 1, 2, 3}
    for res in batches[4:]:
        resumed.add(res)
    np.testing.assert_allclose(resumed.group_sums[0], whole.group_sums[0])
    np.testing.assert_allclose(whole.group_sums[0][1], batches[1].sums[4:10, :2] + batches[4].sums[4:10, :2])


def test_batch_groups_count_in_the_memory_budget():
    """The main process holds G × 2 numbers per cell of a grouped tally: the budget check counts them."""
    from sdeprop.config import load_config
    from sdeprop.engine import build_model, tally_memory_bytes

    model = build_model(load_config(CONFIG))
    box = next(lay for lay in model.layouts if lay.name == "box")
    memory = tally_memory_bytes(model)
    assert memory["groups"] == box.size * 8 * 2 * 8
    assert memory["main"] == 2 * memory["moments"] + memory["groups"]
