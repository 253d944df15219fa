"""Non-local graph: brute-force neighbours, differentiable distances, exact adjoints, memory."""

import importlib
import subprocess
import sys
import textwrap

import pytest
import torch

from stereo_tv.core.nonlocal_graph import (
    _search,
    blend_graphs,
    knn_search,
    nl_diff,
    nl_diff_adjoint,
    nl_gather,
    nl_gather_adjoint,
    nonlocal_graph,
    pad_for_patches,
    patch_distance,
    softmax_weights,
)

from ._adjoint import assert_adjoint, assert_same_vjp


def _brute_force(y, kappa, k, window, patch, mode, b, i, j):
    """Sorted (distance, flat index) of the k nearest other positions of (i, j), by loops."""
    ypad = pad_for_patches(y, patch, mode)
    hg, wg = ypad.shape[-2] - patch + 1, ypad.shape[-1] - patch + 1
    k2 = kappa.view(-1, patch, patch).square()
    r = window // 2
    cands = []
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            ii, jj = i + dy, j + dx
            if (dy, dx) == (0, 0) or not (0 <= ii < hg and 0 <= jj < wg):
                continue
            pj = ypad[b, :, i:i + patch, j:j + patch]
            pk = ypad[b, :, ii:ii + patch, jj:jj + patch]
            cands.append((float((k2 * (pj - pk).square()).sum()), ii * wg + jj))
    return sorted(cands)[:k]


@pytest.mark.parametrize("mode,channels", [("same", 1), ("valid", 2)])
def test_knn_matches_brute_force(mode, channels):
    y = torch.rand(2, channels, 11, 9, dtype=torch.float64)
    kappa = torch.rand(channels * 9, dtype=torch.float64) + 0.5
    nbr, valid = knn_search(y, kappa, k=4, window=5, patch=3, mode=mode, block_elems=50)
    d = patch_distance(y, kappa, nbr, 3, mode)
    assert valid.all()
    hg, wg = nbr.shape[-2:]
    for b, i, j in [(0, 0, 0), (1, hg // 2, wg // 2), (1, hg - 1, wg - 1), (0, 3, wg - 2)]:
        ref = _brute_force(y, kappa, 4, 5, 3, mode, b, i, j)
        assert [n for _, n in ref] == nbr[b, :, i, j].tolist()
        torch.testing.assert_close(d[b, :, i, j], torch.tensor([v for v, _ in ref],
                                                                dtype=torch.float64))


def test_dense_window_keeps_every_offset_in_the_window_order():
    """``k = window^2 - 1``: no selection; every offset in the window's order (row by row), the
    brute-force distances there, and a missing neighbour (off the grid) is the position itself
    with ``valid = False`` and weight 0. Every graph of one image thus has the same lists."""
    y = torch.rand(2, 1, 9, 8, dtype=torch.float64)
    kappa = torch.rand(9, dtype=torch.float64) + 0.5
    nbr, valid = knn_search(y, kappa, k=8, window=3, patch=3, block_elems=40)
    d = patch_distance(y, kappa, nbr, 3)
    hg, wg = nbr.shape[-2:]
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    for b, i, j in [(0, 4, 3), (1, 0, 0), (1, hg - 1, wg - 2), (0, 2, wg - 1)]:
        inside = [0 <= i + dy < hg and 0 <= j + dx < wg for dy, dx in offsets]
        want = [(i + dy) * wg + j + dx if ok else i * wg + j
                for (dy, dx), ok in zip(offsets, inside)]
        assert nbr[b, :, i, j].tolist() == want and valid[b, :, i, j].tolist() == inside
        ref = dict((n, v) for v, n in _brute_force(y, kappa, 8, 3, 3, "same", b, i, j))
        for r, n in enumerate(want):
            if inside[r]:
                assert float(d[b, r, i, j]) == pytest.approx(ref[n])
    nbr2, a = nonlocal_graph(y, kappa, 8, 3, 3)
    assert torch.equal(nbr2, nbr) and torch.equal(nonlocal_graph(2 * y, kappa, 8, 3, 3)[0], nbr)
    assert (a[~valid] == 0).all()
    torch.testing.assert_close(a.sum(1), torch.ones(2, hg, wg, dtype=torch.float64))


def _dense_want(hg, wg, window):
    """A dense window's lists and valid mask ``(n, Hg, Wg)``, by loops."""
    r = window // 2
    offsets = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if (dy, dx) != (0, 0)]
    nbr = torch.empty(len(offsets), hg, wg, dtype=torch.long)
    valid = torch.empty(len(offsets), hg, wg, dtype=torch.bool)
    for o, (dy, dx) in enumerate(offsets):
        for i in range(hg):
            for j in range(wg):
                ok = 0 <= i + dy < hg and 0 <= j + dx < wg
                nbr[o, i, j] = (i + dy) * wg + j + dx if ok else i * wg + j
                valid[o, i, j] = ok
    return nbr, valid


def test_dense_lists_are_shared_per_size_and_right_for_each_size():
    """The dense lists depend on the grid size only and are cached: graphs of one size share
    them (one storage, expanded over the batch), a size in between does not disturb them,
    and the blocked search's distances are those of one block."""
    kappa = torch.rand(9, dtype=torch.float64) + 0.5
    views = []
    for hg, wg, b in [(9, 8, 2), (6, 7, 1), (9, 8, 3)]:
        y = torch.rand(b, 1, hg, wg, dtype=torch.float64)
        nbr, valid = knn_search(y, kappa, k=24, window=5, patch=3, block_elems=100)
        want_n, want_v = _dense_want(hg, wg, 5)
        assert nbr.shape == (b, 24, hg, wg)
        assert torch.equal(nbr, want_n.expand_as(nbr))
        assert torch.equal(valid, want_v.expand_as(valid))
        d_ref = patch_distance(y, kappa, want_n.expand_as(nbr), 3) * valid
        for block in (100, 1 << 20):                  # several blocks of rows, then one
            torch.testing.assert_close(_search(y, kappa, 24, 5, 3, "same", block)[2], d_ref)
        torch.testing.assert_close(nonlocal_graph(y, kappa, 24, 5, 3)[1],
                                   softmax_weights(d_ref, valid))
        views.append(nbr)
    assert views[0].data_ptr() == views[2].data_ptr() != views[1].data_ptr()
    y = torch.rand(2, 1, 9, 8)
    g1 = nonlocal_graph(y, kappa.float(), 24, 5, 3)
    g2 = nonlocal_graph(2 * y, kappa.float(), 24, 5, 3)
    nbr, a = blend_graphs(g1, g2, 0.25)
    assert nbr.data_ptr() == g1[0].data_ptr()
    torch.testing.assert_close(a, 0.75 * g1[1] + 0.25 * g2[1])


def test_dense_lists_of_a_large_grid_are_built_each_time(monkeypatch):
    """Above ``DENSE_CACHE_MAX_ELEMS`` entries the lists are not cached (they would stay in
    memory), and are still right."""
    ng = importlib.import_module("stereo_tv.core.nonlocal_graph")
    monkeypatch.setattr(ng, "DENSE_CACHE_MAX_ELEMS", 8 * 6 * 7 - 1)
    y = torch.rand(1, 1, 6, 7)
    first, valid = knn_search(y, torch.ones(9), k=8, window=3, patch=3)
    second, _ = knn_search(y, torch.ones(9), k=8, window=3, patch=3)
    want_n, want_v = _dense_want(6, 7, 3)
    assert torch.equal(first[0], want_n) and torch.equal(valid[0], want_v)
    assert torch.equal(second, first) and second.data_ptr() != first.data_ptr()


def test_more_neighbours_than_the_window_has_pads_with_the_position_itself():
    """``k > window^2 - 1``: the window's offsets first, in its order, then the position itself,
    with ``valid = False``, distance 0 and weight 0."""
    y = torch.rand(2, 1, 6, 5, dtype=torch.float64)
    kappa = torch.rand(9, dtype=torch.float64) + 0.5
    nbr, valid = knn_search(y, kappa, k=10, window=3, patch=3)
    want_n, want_v = _dense_want(6, 5, 3)
    own = torch.arange(30).view(1, 6, 5).expand(2, -1, -1)
    assert nbr.shape == (2, 10, 6, 5)
    assert torch.equal(nbr[:, :8], want_n.expand(2, -1, -1, -1))
    assert torch.equal(valid[:, :8], want_v.expand(2, -1, -1, -1))
    assert all(torch.equal(nbr[:, r], own) for r in (8, 9)) and not valid[:, 8:].any()
    assert (_search(y, kappa, 10, 3, 3, "same", 1 << 20)[2][:, 8:] == 0).all()
    _, a = nonlocal_graph(y, kappa, 10, 3, 3)
    assert (a[:, 8:] == 0).all()
    torch.testing.assert_close(a.sum(1), torch.ones(2, 6, 5, dtype=torch.float64))


@pytest.mark.parametrize("block_elems", [1, 200, 1 << 22])
@pytest.mark.parametrize("mode,channels", [("same", 1), ("valid", 2)])
def test_dense_distances_from_half_the_offsets(block_elems, mode, channels):
    """A dense window computes the first half of its offsets and shifts those distances for
    the mirrored half (``d_{-o}(j) = d_o(j - o)``), in row blocks thinner than the window as
    well: the distances and their gradients are those of the recomputing path, and 0 at the
    missing neighbours."""
    y = torch.rand(2, channels, 12, 10, dtype=torch.float64, requires_grad=True)
    kappa = (torch.rand(channels * 9, dtype=torch.float64) + 0.5).requires_grad_()
    nbr, valid, d = _search(y, kappa, 48, 7, 3, mode, block_elems)
    ref = patch_distance(y, kappa, nbr, 3, mode) * valid
    assert (d[~valid] == 0).all() and (~valid).any()
    assert_same_vjp(d, ref, (y, kappa))


def test_blocking_does_not_change_the_result():
    y = torch.rand(1, 1, 13, 10)
    kappa = torch.ones(25)
    a = knn_search(y, kappa, 6, 7, 5, block_elems=1)
    b = knn_search(y, kappa, 6, 7, 5, block_elems=1 << 24)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_tiny_image_has_missing_neighbours_with_zero_weight():
    y = torch.rand(1, 1, 2, 2)
    nbr, a = nonlocal_graph(y, torch.ones(9), k=5, window=3, patch=3)
    assert nbr.shape == (1, 5, 2, 2)
    assert torch.isfinite(a).all()
    torch.testing.assert_close(a.sum(1), torch.ones(1, 2, 2))
    assert (a[:, 3:] == 0).all()                   # only 3 other pixels exist
    nbr1, a1 = nonlocal_graph(torch.rand(1, 1, 1, 1), torch.ones(1), k=2, window=3, patch=1)
    assert (a1 == 0).all() and (nbr1 == 0).all()


@pytest.mark.parametrize("mode", ["same", "valid"])
def test_patch_distance_gradcheck(mode):
    y = torch.rand(2, 2, 7, 6, dtype=torch.float64, requires_grad=True)
    kappa = (torch.rand(18, dtype=torch.float64) + 0.5).requires_grad_()
    nbr, _ = knn_search(y, kappa, 3, 5, 3, mode)
    assert torch.autograd.gradcheck(lambda a, b: patch_distance(a, b, nbr, 3, mode), (y, kappa))


def test_weights_gradcheck_and_softmax():
    y = torch.rand(1, 1, 6, 5, dtype=torch.float64, requires_grad=True)
    kappa = (torch.rand(9, dtype=torch.float64) + 0.5).requires_grad_()
    nbr, valid = knn_search(y, kappa, 4, 5, 3)

    def weights(yy, kk):
        return softmax_weights(patch_distance(yy, kk, nbr, 3), valid)

    a = weights(y, kappa)
    torch.testing.assert_close(a.sum(1), torch.ones_like(a[:, 0]))
    assert (a[:, :-1] >= a[:, 1:] - 1e-12).all()     # sorted by distance -> decreasing weights
    assert torch.autograd.gradcheck(weights, (y, kappa))


def test_include_self_puts_the_position_first():
    y = torch.rand(1, 1, 8, 9)
    nbr, a = nonlocal_graph(y, torch.ones(9), k=3, window=5, patch=3, mode="valid",
                            include_self=True)
    assert nbr.shape == (1, 4, 6, 7)
    assert torch.equal(nbr[0, 0].flatten(), torch.arange(42))
    assert (a[:, 0] >= a[:, 1:].amax(1)).all()          # distance 0 -> largest weight


@pytest.mark.parametrize("distance", ["squared", "norm"])
def test_self_distance_keeps_the_own_share_out(distance):
    """``self_distance``: at 0 the ``include_self`` weights without the position's own column;
    at ``s``, ``exp(-d_jk) / (exp(-s) + sum_l exp(-d_jl))``; they sum to less than 1; float64
    gradcheck in the image, kappa and ``s``."""
    y = torch.rand(1, 1, 7, 6, dtype=torch.float64, requires_grad=True)
    kappa = (torch.rand(9, dtype=torch.float64) + 0.5).requires_grad_()
    nbr, a = nonlocal_graph(y, kappa, 4, 5, 3, distance=distance, self_distance=0.0)
    nbr_s, a_s = nonlocal_graph(y, kappa, 4, 5, 3, distance=distance, include_self=True)
    assert torch.equal(nbr, nbr_s[:, 1:])
    torch.testing.assert_close(a, a_s[:, 1:])
    nbr_p, valid = knn_search(y, kappa, 4, 5, 3)
    d = patch_distance(y, kappa, nbr_p, 3)
    d = d.sqrt() if distance == "norm" else d
    s = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    a = nonlocal_graph(y, kappa, 4, 5, 3, distance=distance, self_distance=s)[1]
    e = torch.exp(-d)
    torch.testing.assert_close(a, e / (torch.exp(-s) + e.sum(1, keepdim=True)))
    assert (a.sum(1) < 1).all()

    def weights(yy, kk, ss):
        return nonlocal_graph(yy, kk, 4, 5, 3, distance=distance, self_distance=ss)[1]

    assert torch.autograd.gradcheck(weights, (y, kappa, s))


def test_self_distance_smooths_an_outlier_less():
    """A pixel unlike every neighbour keeps most of its own share; in a flat region the share
    is spread evenly over the k + 1 (equal distances)."""
    y = torch.zeros(1, 1, 9, 9)
    y[0, 0, 4, 4] = 1.0
    _, a = nonlocal_graph(y, torch.full((9,), 3.0), 8, 3, 3, self_distance=0.0)
    assert float(a[0, :, 4, 4].sum()) < 1e-3
    torch.testing.assert_close(a[0, :, 1, 1], torch.full((8,), 1 / 9))


def test_include_self_at_a_learned_distance():
    """``include_self`` with ``self_distance``: the position is returned at rank 0 with the
    weight ``exp(-s) / (exp(-s) + sum_l exp(-d_jl))``; at ``s = 0`` the plain ``include_self``
    graph; a very negative ``s`` gives the position all the weight; float64 gradcheck in ``s``."""
    y = torch.rand(1, 1, 8, 9, dtype=torch.float64)
    kappa = torch.ones(9, dtype=torch.float64)
    nbr0, a0 = nonlocal_graph(y, kappa, 3, 5, 3, "valid", include_self=True)
    nbr, a = nonlocal_graph(y, kappa, 3, 5, 3, "valid", include_self=True, self_distance=0.0)
    assert torch.equal(nbr, nbr0)
    torch.testing.assert_close(a, a0)
    _, own = nonlocal_graph(y, kappa, 3, 5, 3, "valid", include_self=True, self_distance=-60.0)
    torch.testing.assert_close(own[:, 0], torch.ones_like(own[:, 0]))
    torch.testing.assert_close(own.sum(1), torch.ones_like(own[:, 0]))
    s = torch.tensor([1.3], dtype=torch.float64, requires_grad=True)
    _, a_s = nonlocal_graph(y, kappa, 3, 5, 3, "valid", include_self=True, self_distance=s)
    d = -torch.log(a0[:, 1:] / a0[:, :1])            # the neighbours' distances (own at 0)
    e = torch.exp(-d)
    torch.testing.assert_close(a_s[:, :1], torch.exp(-s.detach()) / (torch.exp(-s.detach())
                                                                     + e.sum(1, keepdim=True)))

    def weights(ss):
        return nonlocal_graph(y, kappa, 3, 5, 3, "valid", include_self=True, self_distance=ss)[1]

    assert torch.autograd.gradcheck(weights, (s,))


@pytest.mark.parametrize("k,window", [(8, 3), (3, 5)])
def test_blend_graphs_is_the_weighted_sum_of_the_two_terms(k, window):
    """``blend_graphs``: the NLTV field of the blend is ``(1 - w)`` times the old graph's plus
    ``w`` times the new one's, whether the neighbour lists agree (a dense 3x3 window: the same
    lists, kept as they are), agree as sets in another order (``k`` neighbours kept, sorted by
    index) or not (top-3 of 5x5: both lists); float64 gradcheck in both weights and ``w``."""
    from stereo_tv.core import blend_graphs, nonlocal_game_grad

    torch.manual_seed(0)
    y0, y1 = torch.rand(2, 1, 1, 7, 6, dtype=torch.float64)
    z = torch.rand(1, 1, 7, 6, dtype=torch.float64)
    kappa = torch.rand(9, dtype=torch.float64) + 0.5
    old = nonlocal_graph(y0, kappa, k, window, 3)
    new = nonlocal_graph(y1, 2 * kappa, k, window, 3)
    nbr, a = blend_graphs(old, new, 0.3)
    assert nbr.shape[1] == (k if k == window * window - 1 else 2 * k)
    if k == window * window - 1:
        assert torch.equal(nbr, old[0]) and torch.equal(nbr, new[0])   # the window's order

    def field(graph):
        return nonlocal_game_grad(z, graph[0], graph[1], "l1", torch.tensor(5.0), False)

    torch.testing.assert_close(field((nbr, a)), 0.7 * field(old) + 0.3 * field(new))
    if k == window * window - 1:                 # the same sets in another order: sorted
        flipped = (new[0].flip(1), new[1].flip(1))
        nbr_f, a_f = blend_graphs(old, flipped, 0.3)
        assert nbr_f.shape[1] == k
        assert (nbr_f.diff(dim=1) >= 0).all()    # sorted (a missing neighbour repeats one)
        torch.testing.assert_close(field((nbr_f, a_f)), field((nbr, a)))
    torch.testing.assert_close(blend_graphs(old, new, 1.0)[1].sum(1), new[1].sum(1))
    a0 = old[1].clone().requires_grad_()
    a1 = new[1].clone().requires_grad_()
    w = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a0, a1, w: blend_graphs((old[0], a0), (new[0], a1), w)[1], (a0, a1, w))


def test_gather_and_diff_adjoints():
    z = torch.randn(2, 3, 7, 5, dtype=torch.float64)
    nbr, _ = knn_search(torch.rand(2, 1, 7, 5), torch.ones(9), 4, 5, 3)
    u = torch.randn(2, 3, 4, 7, 5, dtype=torch.float64)
    assert_adjoint(lambda a: nl_gather(a, nbr), lambda b: nl_gather_adjoint(b, nbr), z, u)
    assert_adjoint(lambda a: nl_diff(a, nbr), lambda b: nl_diff_adjoint(b, nbr), z, u)


def test_kappa_size_is_checked():
    with pytest.raises(ValueError, match="kappa has 4 entries"):
        knn_search(torch.rand(1, 1, 5, 5), torch.ones(4), 2, 3, 3)


def test_full_size_graph_is_memory_bounded():
    """481x321 NLTV forward (default 15x15 window, 5x5 patches, k=9; 2 extra-gradient
    iterations, one graph) in a fresh process: the peak RSS increase stays far below the
    ~0.6 GB that an all-offsets distance volume (224 x 481 x 321 values, several copies) needs."""
    code = textwrap.dedent("""
        import resource, torch
        torch.set_num_threads(1)
        from stereo_tv.core import PixelGame
        y = torch.rand(1, 1, 321, 481)
        game = PixelGame("nltv", iters=2, method="extragrad")
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with torch.no_grad():
            z = game(y)
        assert torch.isfinite(z).all() and z.shape == y.shape
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert out.returncode == 0, out.stderr
    peak_mb = float(out.stdout.strip().splitlines()[-1])
    assert peak_mb < 250, peak_mb


@pytest.mark.parametrize("mode,channels,include_self,k", [("same", 1, False, 5),
                                                          ("valid", 2, True, 5),
                                                          ("same", 2, False, 5),
                                                          ("same", 1, False, 24)])
def test_graph_paths_agree(mode, channels, include_self, k, monkeypatch):
    """The all-offsets path (autograd on, small input), the recomputing path (autograd on, large
    input) and the inference path give the same neighbours, weights and gradients (top-5 and the
    dense 5x5 window)."""
    ng = importlib.import_module("stereo_tv.core.nonlocal_graph")  # not the same-named function
    y = torch.rand(2, channels, 13, 11, dtype=torch.float64, requires_grad=True)
    kappa = (torch.rand(channels * 9, dtype=torch.float64) + 0.5).requires_grad_()
    args = (y, kappa, k, 5, 3, mode, include_self)
    nbr, a = nonlocal_graph(*args)
    monkeypatch.setattr(ng, "GRAPH_GRAD_MAX_ELEMS", 0)
    nbr2, a2 = nonlocal_graph(*args)
    with torch.no_grad():
        nbr3, a3 = nonlocal_graph(*args)
    assert torch.equal(nbr, nbr2) and torch.equal(nbr, nbr3)
    torch.testing.assert_close(a, a3)
    assert_same_vjp(a, a2, (y, kappa))


def test_all_offsets_graph_gradcheck():
    y = torch.rand(1, 2, 7, 6, dtype=torch.float64, requires_grad=True)
    kappa = (torch.rand(18, dtype=torch.float64) + 0.5).requires_grad_()
    with torch.no_grad():
        nbr = nonlocal_graph(y, kappa, 4, 5, 3)[0]

    def weights(yy, kk):
        n, a = nonlocal_graph(yy, kk, 4, 5, 3)
        assert torch.equal(n, nbr)                   # gradcheck's nudges keep the selection
        return a

    assert torch.autograd.gradcheck(weights, (y, kappa))


def test_cpu_depthwise_conv_gradient_matches_conv2d():
    from stereo_tv.core.nonlocal_graph import _DepthwiseConvCPU

    x = torch.rand(2, 3, 9, 8, dtype=torch.float64, requires_grad=True)
    w = torch.rand(3, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_DepthwiseConvCPU.apply, (x, w))
    torch.testing.assert_close(_DepthwiseConvCPU.apply(x, w),
                               torch.nn.functional.conv2d(x, w, groups=3))


def test_graph_ignores_autocast():
    """Under AMP the distances stay in the input's precision (same graph as without)."""
    y = torch.rand(1, 1, 20, 20, requires_grad=True)
    kappa = (torch.rand(9) + 0.5).requires_grad_()
    nbr, a = nonlocal_graph(y, kappa, 4, 5, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        nbr2, a2 = nonlocal_graph(y, kappa, 4, 5, 3)
    assert a2.dtype == torch.float32 and torch.equal(nbr, nbr2)
    torch.testing.assert_close(a, a2)


def test_norm_distance_is_the_softmax_of_the_square_root():
    """``distance="norm"``: the same neighbours, weights ``softmax(-sqrt(d))`` of the squared
    distances ``d``; float64 gradcheck through both graph paths."""
    y = torch.rand(1, 1, 7, 6, dtype=torch.float64, requires_grad=True)
    kappa = (torch.rand(9, dtype=torch.float64) + 0.5).requires_grad_()
    nbr, valid = knn_search(y, kappa, 4, 5, 3)
    d = patch_distance(y, kappa, nbr, 3)
    nbr_n, a_n = nonlocal_graph(y, kappa, 4, 5, 3, distance="norm")
    assert torch.equal(nbr_n, nbr)
    torch.testing.assert_close(a_n, softmax_weights(d.sqrt(), valid))
    assert not torch.allclose(a_n, softmax_weights(d, valid))

    def weights(yy, kk):
        return nonlocal_graph(yy, kk, 4, 5, 3, distance="norm")[1]

    assert torch.autograd.gradcheck(weights, (y, kappa))


def test_norm_distance_gradient_is_finite_on_equal_patches():
    y = torch.zeros(1, 1, 6, 6, requires_grad=True)
    kappa = torch.ones(9, requires_grad=True)
    nbr, a = nonlocal_graph(y, kappa, 3, 5, 3, distance="norm", include_self=True)
    a.square().sum().backward()
    assert torch.isfinite(y.grad).all() and torch.isfinite(kappa.grad).all()


def test_unknown_distance_is_refused():
    with pytest.raises(ValueError, match="distance"):
        nonlocal_graph(torch.rand(1, 1, 5, 5), torch.ones(9), 2, 3, 3, distance="l1")
