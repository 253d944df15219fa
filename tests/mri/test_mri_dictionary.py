"""CS-SC initial dictionary: patch sampling and unit-norm atoms."""

from __future__ import annotations

import numpy as np

from stereo_tv.mri.dictionary import learn_dictionary, sample_patches


def test_sample_patches_values_and_background_skip():
    img = np.zeros((20, 20))
    img[4:16, 4:16] = 1.0                        # ~80% of 3x3 patches touch the square
    p = sample_patches([img], patch=3, n=20, seed=1)
    assert p.shape == (20, 9)
    assert (p.max(1) > 0).all()                   # all-zero background patches skipped


def test_learn_dictionary_unit_columns():
    rng = np.random.default_rng(0)
    d = learn_dictionary(rng.random((300, 9)), atoms=6, iters=2)
    assert d.shape == (9, 6)
    np.testing.assert_allclose(np.linalg.norm(d, axis=0), 1.0, atol=1e-6)
