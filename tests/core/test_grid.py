"""Grid neighbour differences: values, borders, exact adjoints."""

import pytest
import torch

from stereo_tv.core.grid import (
    border_mask,
    edge_diff,
    edge_diff_adjoint,
    grid_offsets,
    mirror_index,
    neighbour_diff,
    neighbour_diff_adjoint,
)

from ._adjoint import assert_adjoint


@pytest.mark.parametrize("connectivity", [4, 8])
def test_offsets_and_mirrors(connectivity):
    offs = grid_offsets(connectivity)
    assert len(offs) == connectivity and len(set(offs)) == connectivity
    for i, j in enumerate(mirror_index(connectivity)):
        assert offs[j] == (-offs[i][0], -offs[i][1])
    with pytest.raises(ValueError, match="connectivity must be 4 or 8"):
        grid_offsets(6)


def test_ramp_differences_and_no_false_border_edges():
    z = torch.arange(7.0).repeat(9, 1).view(1, 1, 9, 7)          # horizontal ramp
    d = neighbour_diff(z, grid_offsets(8))
    mask = border_mask(grid_offsets(8), 9, 7, z)
    # right neighbour: +1 inside, absent (0) in the last column
    assert torch.all(d[0, 0, 0, :, :-1] == 1) and torch.all(d[0, 0, 0, :, -1] == 0)
    # down neighbour: 0 everywhere (constant along columns), including the last row
    assert torch.all(d[0, 0, 1] == 0)
    # every term with an out-of-image neighbour is absent
    assert torch.all(d[0, 0][mask == 0] == 0)
    assert mask.sum() == 2 * (8 * 7 + 9 * 6 + 2 * 8 * 6)         # 2 x number of edges


@pytest.mark.parametrize("offset", [(0, 1), (1, 0), (1, 1), (1, -1), (-1, 1), (2, -3)])
def test_edge_diff_adjoint(offset):
    u = torch.randn(2, 3, 9, 7, dtype=torch.float64)
    v = torch.randn_like(edge_diff(u, offset))
    assert_adjoint(lambda a: edge_diff(a, offset),
                   lambda b: edge_diff_adjoint(b, offset, 9, 7), u, v)


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("size", [(9, 7), (1, 5), (2, 1)])
def test_neighbour_diff_adjoint(connectivity, size):
    offs = grid_offsets(connectivity)
    u = torch.randn(2, 2, *size, dtype=torch.float64)
    v = torch.randn(2, 2, len(offs), *size, dtype=torch.float64)
    v = v * border_mask(offs, *size, v)
    assert_adjoint(lambda a: neighbour_diff(a, offs), lambda b: neighbour_diff_adjoint(b, offs),
                   u, v)


def test_constant_has_zero_differences():
    z = torch.full((2, 3, 5, 6), 3.5)
    assert torch.all(neighbour_diff(z, grid_offsets(8)) == 0)
