"""docs/method.md §4b: contrastive learning (Movellan 1991; Baldi and Pineda 1991). The free phase is
EP's; then the output is clamped to the target and the hidden layers relax with it held there. The
update is the contrast between the clamped and the free state (coupled.py, with the clamp at y and
no division): the gradient of E(clamped fixed point) - E(free fixed point)."""
from __future__ import annotations

from . import coupled
from .algorithm import Algorithm


def clamp_to_target(y, hp):
    return (lambda out: y), 1.0


ALGORITHM = Algorithm(
    name="contrastive", summary="contrastive learning: the output clamped to the target",
    nets=("energy",), inits=("zeros",), mode_kinds=("relax",), primary_kinds=("relax",), own_kind="relax",
    reads=coupled.READS - {"beta"}, step=coupled.step_of(clamp_to_target), multiply_adds=coupled.multiply_adds,
    probe=coupled.probe_of("contrastive", clamp_to_target), colour="tab:brown")
