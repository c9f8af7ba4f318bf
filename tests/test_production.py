"""Production runs: resume after a crash, Dask cluster, merge, memory budget, provenance."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import sdeprop
from sdeprop.cli import main
from sdeprop.config import ConfigError, load_config


def _config(**run):
    return {
        "run": {"particles": 3000, "batch_size": 300, "seed": 31, "progress": False, **run},
        "energy": {"min_GeV": 1.0, "max_GeV": 1000.0},
        "galaxy": {"halo_height_kpc": 2.0, "radius_max_kpc": 12.0},
        "field": {"model": "cerri_toy", "R0_kpc": 2.0, "epsilon_B": 1.0},
        "diffusion": {"epsilon": 0.1},
        "source": {"type": "disk", "radius_kpc": 10.0},
        "tally": [
            {"name": "map", "type": "cylindrical", "R_bins": 6, "z_bins": 4, "energy_bins": 3},
            {"name": "sun", "type": "sphere", "radius_kpc": 1.0, "energy_bins": 3},
        ],
    }


def _assert_same(a, b, exact=True):
    assert a.counts == b.counts
    for name in a.tallies:
        if exact:
            assert np.array_equal(a.tallies[name].sums, b.tallies[name].sums), name
        else:
            np.testing.assert_allclose(a.tallies[name].sums, b.tallies[name].sums, rtol=1e-12, atol=0)


@pytest.fixture(scope="module")
def reference():
    return sdeprop.run(_config())


def test_resume_after_sigkill_is_bit_identical(tmp_path, reference):
    """Kill a run (SIGKILL) once some batches are saved, run the same command again: identical result."""
    cfg_path = tmp_path / "c.toml"
    cfg = _config()
    cfg_path.write_text(load_config(cfg).to_toml())
    out = tmp_path / "r.h5"
    partial = tmp_path / "r.h5.partial"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sdeprop", "run", str(cfg_path), "-o", str(out), "-q"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (partial / "prefix.npz").exists():
            break
        time.sleep(0.002)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be killed (machine too fast for this check)")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists() and partial.exists()
    with np.load(partial / "prefix.npz") as f:
        assert 1 <= int(f["n_prefix"]) < 10  # some, not all, batches were saved before the kill
    # resume (in this process) and compare with the uninterrupted run
    assert main(["run", str(cfg_path), "-o", str(out), "--resume", "-q"]) == 0
    assert out.exists() and not partial.exists()
    _assert_same(sdeprop.load_result(out), reference)


def test_resume_skips_saved_batches(tmp_path, reference, monkeypatch):
    """A partial folder with finished batches: only the missing batches run again."""
    import sdeprop.engine as engine

    out = tmp_path / "r.h5"
    ran = []
    real = engine.run_batch

    def flaky(model, index, n, seed_seq, keep_state=False, **options):
        if index < 0:  # the cost pilot (engine.estimate_cost), not a batch of the run
            return real(model, index, n, seed_seq, keep_state, **options)
        if index == 6:
            raise KeyboardInterrupt
        ran.append(index)
        return real(model, index, n, seed_seq, keep_state, **options)

    monkeypatch.setattr(engine, "run_batch", flaky)
    with pytest.raises(
        engine.RunInterrupted, match=r"interrupted after 6 of 10 batches.*run the same command again"
    ):
        sdeprop.run(_config(), output=out)
    assert ran == [0, 1, 2, 3, 4, 5] and not out.exists()
    monkeypatch.setattr(
        engine, "run_batch", lambda *a, **k: (a[1] >= 0 and ran.append(a[1]), real(*a, **k))[1]
    )
    res = sdeprop.run(_config(), output=out)
    assert ran[6:] == [6, 7, 8, 9]
    _assert_same(res, reference)


def test_resume_refuses_other_configuration(tmp_path, monkeypatch):
    import sdeprop.engine as engine

    out = tmp_path / "r.h5"
    real = engine.run_batch

    def stop(model, index, n, seed_seq, keep_state=False, **options):
        if index == 2:
            raise KeyboardInterrupt
        return real(model, index, n, seed_seq, keep_state, **options)

    monkeypatch.setattr(engine, "run_batch", stop)
    with pytest.raises(engine.RunInterrupted):
        sdeprop.run(_config(), output=out)
    monkeypatch.setattr(engine, "run_batch", real)
    other = _config()
    other["diffusion"] = {"epsilon": 0.2}
    with pytest.raises(
        ConfigError, match=r"partial run with a different configuration.*epsilon = 0.1' now 'epsilon = 0.2'"
    ):
        sdeprop.run(other, output=out)
    assert not out.exists()
    # workers and the progress bar are not part of the configuration that must match
    res = sdeprop.run(_config(workers=2, progress=True), output=out)
    assert out.exists() and res.counts["injected"] == 3000
    # --restart discards a partial run
    monkeypatch.setattr(engine, "run_batch", stop)
    with pytest.raises(engine.RunInterrupted):
        sdeprop.run(_config(), output=tmp_path / "s.h5")
    monkeypatch.setattr(engine, "run_batch", real)
    sdeprop.run(other, output=tmp_path / "s.h5", restart=True)
    assert sdeprop.load_result(tmp_path / "s.h5").config.diffusion.epsilon == 0.2


def test_dask_local_cluster_equals_local_run(reference):
    """Two Dask worker processes give the same bits as the local run (same seed)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        res = sdeprop.run(_config(), scheduler=cluster.scheduler_address)
    _assert_same(res, reference)
    assert res.metadata["scheduler"] == cluster.scheduler_address


def test_merge_two_halves_equals_full_run(tmp_path, reference):
    """Batches 0-4 and 5-9 run apart and merged = the full run (same batches; sums equal to rounding)."""
    a, b, m = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "m.h5"
    sdeprop.run(_config(), output=a, batches="0:5")
    sdeprop.run(_config(workers=2), output=b, batches=range(5, 10))
    assert main(["merge", str(a), str(b), "-o", str(m)]) == 0
    merged = sdeprop.load_result(m)
    _assert_same(merged, reference, exact=False)
    for name, t in reference.tallies.items():
        np.testing.assert_allclose(merged.tallies[name].density, t.density, rtol=1e-12)
        np.testing.assert_allclose(merged.tallies[name].uncertainty, t.uncertainty, rtol=1e-9)
    assert sorted(row["index"] for row in merged.metadata["batch_log"]) == list(range(10))
    # the same batches twice, or another configuration, are refused
    with pytest.raises(ConfigError, match="counted twice"):
        sdeprop.io.merge_results([a, m])
    other = tmp_path / "o.h5"
    cfg = _config(seed=99)
    cfg["galaxy"]["halo_height_kpc"] = 3.0
    sdeprop.run(cfg, output=other, particles=600)
    with pytest.raises(ConfigError, match="configurations differ"):
        sdeprop.io.merge_results([a, other])


def test_merge_other_seeds_adds_statistics(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    ra = sdeprop.run(_config(seed=1), output=a, particles=600)
    rb = sdeprop.run(_config(seed=2), output=b, particles=900)
    m = sdeprop.io.merge_results([a, b], tmp_path / "m.h5")
    assert m.counts["injected"] == 1500
    t = m.tallies["map"]
    np.testing.assert_allclose(t.sum1, ra.tallies["map"].sum1 + rb.tallies["map"].sum1, rtol=1e-14)
    # the merged density is the particle-weighted mean of the two
    expect = (600 * ra.tallies["map"].density + 900 * rb.tallies["map"].density) / 1500
    np.testing.assert_allclose(t.density, expect, rtol=1e-10)


def test_over_budget_is_refused_before_running(tmp_path):
    cfg = _config(memory_budget_GiB=0.001)
    cfg["tally"] = [{"name": "big", "type": "cartesian", "bins": [100, 100, 20], "energy_bins": 10}]
    out = tmp_path / "x.h5"
    with pytest.raises(ConfigError, match=r"tallies need .* GiB .*run.memory_budget_GiB = 0.001"):
        sdeprop.run(cfg, output=out)
    assert list(tmp_path.iterdir()) == []


def test_provenance_recorded_and_printed(tmp_path, capsys):
    out = tmp_path / "p.h5"
    sdeprop.run(_config(), output=out, particles=600)
    r = sdeprop.load_result(out)
    assert r.metadata["dependencies"]["numpy"] == np.__version__
    assert [row["index"] for row in r.metadata["batch_log"]] == [0, 1]
    assert all(row["seed"] == 31 and row["host"] for row in r.metadata["batch_log"])
    assert main(["info", str(out), "--batches"]) == 0
    text = capsys.readouterr().out
    assert "seed(s) [31]: 2 batches of 300" in text and "numba" in text and "SeedSequence" in text


def test_worker_peak_memory_is_bounded_by_the_tally_size():
    """A batch needs at most ~1.5× the stored moments (measured with tracemalloc, which sees numpy's
    buffers)."""
    import tracemalloc

    from sdeprop.engine import build_model, run_batch, tally_memory_bytes

    cfg = _config()
    cfg["tally"] = [
        {"name": "big", "type": "cartesian", "bins": [100, 100, 40], "energy_bins": 10}
    ]  # 4e6 cells
    model = build_model(cfg)
    moments = tally_memory_bytes(model)["moments"]
    assert moments == 4_000_000 * 5 * 8
    run_batch(model, 0, 10, np.random.SeedSequence(1))  # compile outside the measurement
    tracemalloc.start()
    try:
        res = run_batch(model, 0, 200, np.random.SeedSequence(1))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.sums.nbytes == moments
    print(f"peak {peak / 2**20:.1f} MiB for {moments / 2**20:.1f} MiB of moments: {peak / moments:.3f}x")
    assert peak < 1.5 * moments
