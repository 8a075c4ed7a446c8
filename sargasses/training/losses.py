"""Losses for rare, thin targets that ignore not-scorable pixels (label 255).

mfai's DiceLoss(mode="binary", ignore_index=255) works too (the original project's choice); Dice alone gives
noisy gradients when a batch holds few positives, so the default adds a binary cross-entropy term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BCEDiceLoss(nn.Module):
    """bce_weight * BCE(logits, y) + dice_weight * (1 - soft Dice), both over pixels whose label is not `ignore_index`.

    `pos_weight` raises the cost of a missed Sargassum pixel (positives are ~1 % of training pixels).
    """

    def __init__(
        self, bce_weight: float = 1.0, dice_weight: float = 1.0, pos_weight: float = 1.0, ignore_index: int = 255
    ) -> None:
        super().__init__()
        self.bce_weight = bce_weight
        self.dice_weight = dice_weight
        self.pos_weight = pos_weight
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        valid = (target != self.ignore_index).to(logits.dtype)
        target = torch.where(valid > 0, target, torch.zeros_like(target)).to(logits.dtype)
        count = valid.sum().clamp_min(1.0)
        loss = logits.new_zeros(())
        if self.bce_weight:
            weight = valid * (1.0 + (self.pos_weight - 1.0) * target)
            bce = F.binary_cross_entropy_with_logits(logits, target, weight=weight, reduction="sum") / count
            loss = loss + self.bce_weight * bce
        if self.dice_weight:
            probability = torch.sigmoid(logits) * valid
            intersection = (probability * target).sum()
            cardinality = probability.sum() + target.sum()
            dice = (2.0 * intersection + 1.0) / (cardinality + 1.0)
            loss = loss + self.dice_weight * (1.0 - dice)
        return loss
