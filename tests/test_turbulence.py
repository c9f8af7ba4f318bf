"""The turbulence-strength models (sdeprop.models.turbulence) and their configuration."""

import numpy as np
import pytest

from sdeprop.config import ConfigError, load_config
from sdeprop.models.gmf_jf12 import jf12_random_amplitude_many, jf12_random_params
from sdeprop.models.turbulence import evaluate_turbulence

POINTS = np.array([[-8.5, 0.0, 0.0], [-8.5, 0.0, 1.0], [3.0, 0.0, 0.0], [0.0, -12.0, -2.0], [25.0, 0.0, 0.0]])


def turbulence(**section):
    return load_config({"turbulence": section}).turbulence


def test_jf12_random_is_the_jf12b_amplitude_scaled():
    """Same numbers as the JF12 random amplitude (checked against CRPropa in test_gmf_jf12), times scale;
    zero beyond the 20 kpc sphere."""
    ref = jf12_random_amplitude_many(jf12_random_params("jf12"), POINTS)
    np.testing.assert_allclose(evaluate_turbulence(turbulence(model="jf12_random"), POINTS), ref, rtol=1e-14)
    np.testing.assert_allclose(
        evaluate_turbulence(turbulence(model="jf12_random", scale=0.5), POINTS), 0.5 * ref, rtol=1e-14
    )
    planck = jf12_random_amplitude_many(jf12_random_params("planck"), POINTS)
    np.testing.assert_allclose(
        evaluate_turbulence(turbulence(model="jf12_random", variant="planck"), POINTS), planck, rtol=1e-14
    )
    assert ref[-1] == 0.0 and np.all(ref[:-1] > 0.0)
    # an override reaches the model: no halo component leaves only the disc part
    disc = evaluate_turbulence(turbulence(model="jf12_random", overrides={"halo": 0.0}), POINTS)
    assert np.all(disc[:-1] < ref[:-1])


def test_constant_and_none():
    np.testing.assert_array_equal(
        evaluate_turbulence(turbulence(model="constant", rms_uG=3.0, scale=2.0), POINTS), 6.0
    )
    np.testing.assert_array_equal(evaluate_turbulence(turbulence(), POINTS), 0.0)


@pytest.mark.parametrize(
    "section, match",
    [
        ({"model": "kolmogorov"}, "turbulence.model"),
        ({"model": "constant", "rms_uG": -1.0}, "turbulence.rms_uG"),
        ({"model": "jf12_random", "variant": "uf23"}, "turbulence.variant"),
        ({"model": "jf12_random", "overrides": {"z_q": 1.0}}, "unknown JF12 parameter 'z_q'"),
        ({"model": "constant", "variant": "planck"}, "apply to model 'jf12_random' only"),
    ],
)
def test_bad_turbulence_sections_are_named(section, match):
    with pytest.raises(ConfigError, match=match):
        load_config({"turbulence": section})
