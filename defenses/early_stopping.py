"""In-processing defense: early stopping (PoisonedEncoder paper §6.2, Fig. 10).

The attack needs enough pre-training epochs for the encoder to tie the target to its references,
and enough downstream-classifier epochs to fit the target class; stopping either early lowers ASR
and utility. Nothing is retrained: the operating point reads the encoder at ``pretrain_epoch``
from the checkpoints the undefended run already saved, and trains the downstream classifier for
``probe_epochs``. The curves (ASR and PA against every saved pre-training epoch, and against each
of ``probe_epoch_grid`` downstream epochs on the final encoder) go into the record.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, List, Optional, Sequence

from benchmark.core.errors import BenchmarkError
from benchmark.core.settings import ProbeConfig

from .base import Defense, Operating, register_defense


@register_defense("early_stopping")
class EarlyStopping(Defense):
    stage = "in"

    def __init__(self, pretrain_epoch: Optional[int] = None, probe_epochs: Optional[int] = None,
                 probe_epoch_grid: Sequence[int] = (5, 10, 25, 50, 100)):
        for v in (pretrain_epoch, probe_epochs, *probe_epoch_grid):
            if v is not None and int(v) < 1:
                raise BenchmarkError(f"early_stopping epochs must be >= 1, got {v}")
        # None = half the tier's pre-training epochs / the tier's probe epochs (resolved later).
        self.pretrain_epoch = None if pretrain_epoch is None else int(pretrain_epoch)
        self.probe_epochs = None if probe_epochs is None else int(probe_epochs)
        self.probe_epoch_grid = tuple(sorted(set(int(e) for e in probe_epoch_grid)))


    def _epoch(self, trained) -> int:
        saved = sorted(set(trained.epoch_checkpoints) | {trained.cfg.epochs})
        epoch = self.pretrain_epoch if self.pretrain_epoch is not None else trained.cfg.epochs // 2
        if epoch not in saved:
            raise BenchmarkError(f"early_stopping: no checkpoint at pre-training epoch {epoch}; "
                                 f"the tier saves {saved} (pretrain.checkpoint_epochs)")
        return epoch

    def operating(self, trained: List[Any], probe: ProbeConfig, n_train: int) -> Operating:
        enc, epoch = trained[0], self._epoch(trained[0])
        p = replace(probe, epochs=self.probe_epochs or probe.epochs)
        # A provider who stops at ``epoch`` pays only that share of the pre-training.
        return Operating([enc.at_epoch(epoch)], p, {"pretrain_epoch": epoch, "probe_epochs": p.epochs},
                         image_passes=enc.image_passes * epoch // enc.cfg.epochs)

    def curves(self, trained: List[Any], probe: ProbeConfig) -> List[Operating]:
        enc = trained[0]
        points = [Operating([enc.at_epoch(e)], probe, {"axis": "pretrain_epochs", "pretrain_epoch": e})
                  for e in sorted(set(enc.epoch_checkpoints) | {enc.cfg.epochs})]
        points += [Operating([enc.encoder], replace(probe, epochs=e), {"axis": "probe_epochs", "probe_epochs": e})
                   for e in self.probe_epoch_grid]
        return points
