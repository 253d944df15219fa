"""Regularization core: pixel and patch games solved by unrolled (extra-)gradient.

No I/O and no task knowledge here; everything follows the device and dtype of its inputs.

Modules (one concept each):
    grid            neighbour offsets, differences ``z_{j+o} - z_j`` and adjoints
    nonlocal_graph  k-nearest-patch graph, softmax weights, gather / scatter
    smoothing       Moreau-Yosida smoothing of l1 / group l2
    priors          players' gradients of TV, Laplacian, NLTV, non-local Laplacian
    code_priors     weighted l1, non-local group, variance reduction (patch codes)
    patches         patch extraction and patch averaging (eq. 3)
    data_terms      pixel / operator / dictionary data gradients
    solvers         unrolled gradient, extra-gradient, Barzilai-Borwein step
    pixel_game      ``PixelGame``
    patch_game      ``PatchGame``
"""

from .code_priors import (
    nl_group_grad,
    nl_group_potential,
    variance_grad,
    variance_own_share,
    weighted_l1_prox,
)
from .data_terms import (
    apply_dictionary,
    apply_dictionary_adjoint,
    dictionary_data_grad,
    normalize_dictionary,
    operator_data_grad,
    patch_operator_data_grad,
    pixel_data_grad,
)
from .grid import (
    border_mask,
    edge_diff,
    edge_diff_adjoint,
    grid_offsets,
    mirror_index,
    neighbour_diff,
    neighbour_diff_adjoint,
)
from .nonlocal_graph import (
    blend_graphs,
    knn_search,
    nl_diff,
    nl_diff_adjoint,
    nl_gather,
    nl_gather_adjoint,
    nonlocal_graph,
    patch_distance,
    softmax_weights,
)
from .patch_game import PATCH_PRIORS, PatchGame
from .patches import (
    extract_patches,
    extract_patches_adjoint,
    patch_average,
    patch_average_adjoint,
    patch_coverage,
)
from .pixel_game import PIXEL_PRIORS, SOLVERS, PixelGame
from .priors import (
    grid_game_grad,
    grid_potential,
    guide_edge_weights,
    nonlocal_game_grad,
    nonlocal_potential,
    penalty_grad,
    penalty_value,
)
from .smoothing import (
    MoreauL1,
    group_soft_threshold,
    moreau_l1,
    moreau_l1_grad,
    moreau_l2,
    moreau_l2_grad,
    soft_threshold,
)
from .solvers import barzilai_borwein_step, extragradient, gradient_descent, maybe_checkpoint

__all__ = [
    "PixelGame", "PatchGame", "PIXEL_PRIORS", "PATCH_PRIORS", "SOLVERS",
    # grid
    "grid_offsets", "mirror_index", "edge_diff", "edge_diff_adjoint", "neighbour_diff",
    "neighbour_diff_adjoint", "border_mask",
    # non-local graph
    "nonlocal_graph", "blend_graphs", "knn_search", "patch_distance", "softmax_weights",
    "nl_gather", "nl_gather_adjoint", "nl_diff", "nl_diff_adjoint",
    # smoothing
    "soft_threshold", "group_soft_threshold", "moreau_l1", "moreau_l1_grad", "moreau_l2",
    "moreau_l2_grad", "MoreauL1",
    # priors
    "penalty_grad", "penalty_value", "guide_edge_weights", "grid_game_grad", "grid_potential",
    "nonlocal_game_grad", "nonlocal_potential", "weighted_l1_prox", "nl_group_grad",
    "nl_group_potential", "variance_grad", "variance_own_share",
    # patches and data terms
    "extract_patches", "extract_patches_adjoint", "patch_coverage", "patch_average",
    "patch_average_adjoint", "pixel_data_grad", "operator_data_grad", "apply_dictionary",
    "apply_dictionary_adjoint", "dictionary_data_grad", "patch_operator_data_grad",
    "normalize_dictionary",
    # solvers
    "gradient_descent", "extragradient", "barzilai_borwein_step", "maybe_checkpoint",
]
