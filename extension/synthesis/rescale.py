"""The shared post-processing of synthesized rows (`SynthesisSpec` parameter `rescale`).

'none': as mixed (the paper); 'norm': the row scaled to the donors' mean row norm and the
bias set to the donors' mean bias (averaging shrinks rows, so they never win an argmax);
'deviation': the row's deviation from the donors' mean row scaled to the donors' mean
distance from that mean row. `scale` multiplies either target (1.0: the typical trained row).
Means are over each query's donors (all but the one it excludes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from extension.synthesis.methods import SynthesisInputs


def compute_rescaled(
    inputs: SynthesisInputs, rows: torch.Tensor, biases: torch.Tensor, rescale: str, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows (T, D) and biases (T,) after the shared 'norm' / 'deviation' post-processing."""
    if rescale == "none":
        return rows, biases
    mean_bias = _donor_mean(inputs, inputs.bias)
    if rescale == "norm":
        target = scale * _donor_mean(inputs, inputs.weight.norm(dim=1))
        return rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12) * target[:, None], mean_bias
    center = _donor_mean(inputs, inputs.weight)  # (T, D) donor mean row
    target = scale * _donor_mean_spread(inputs, center)
    deviation = rows - center
    scaled = deviation / deviation.norm(dim=1, keepdim=True).clamp_min(1e-12) * target[:, None]
    return center + scaled, mean_bias


def _donor_mean(inputs: SynthesisInputs, values: torch.Tensor) -> torch.Tensor:
    """(T, ...) mean of `values` (C, ...) over each query's donors: all but its excluded one
    (a sum minus one row, not a (T, C) mask product)."""
    n = values.shape[0]
    total = values.sum(dim=0, keepdim=True).expand(len(inputs.exclude), *values.shape[1:]).clone()
    has = inputs.exclude >= 0
    total[has] -= values[inputs.exclude[has]]
    count = torch.full((len(inputs.exclude),), float(n), dtype=values.dtype, device=values.device)
    count[has] = n - 1
    return total / count.view(-1, *([1] * (values.dim() - 1)))


def _donor_mean_spread(inputs: SynthesisInputs, center: torch.Tensor) -> torch.Tensor:
    """(T,) mean distance of each query's donor rows to their mean row `center` (T, D)."""
    if inputs.weight_gram is None:
        spread = torch.cdist(center, inputs.weight)  # (T, C)
    else:  # |w_j - c_t|^2 = G_jj - 2 w_j.c_t + |c_t|^2, with w_j.c_t the donor mean of G_:j
        gram = inputs.weight_gram
        cross = _donor_mean(inputs, gram)  # (T, C)
        center_sq = (center * center).sum(dim=1, keepdim=True)
        spread = torch.sqrt((torch.diagonal(gram)[None, :] - 2 * cross + center_sq).clamp_min(0))
    mask = inputs.donor_mask().to(spread.dtype)
    return (mask * spread).sum(dim=1) / mask.sum(dim=1)
