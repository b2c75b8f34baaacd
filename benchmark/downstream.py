"""Downstream predictions of an operating point: one encoder + linear probe (paper §5.1), or an
ensemble whose base classifiers vote (bagging, §6.2) with per-input vote counts for certification.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np

from .core.errors import BenchmarkError
from .core.memory import release_freed_memory
from .evaluate import LinearProbe, extract_features
from .feature_store import FeatureStore
from .core.settings import ProbeConfig


def module_of(encoder: Any):
    """An nn.Module from a cache entry (``.encoder``) or the module itself."""
    return getattr(encoder, "encoder", encoder)


def majority_vote(votes: np.ndarray) -> np.ndarray:
    """Per row of an n×C vote-count matrix, the top class; ties go to the smallest label
    (Jia, Cao, Gong 2021 break ties the same way)."""
    return np.argmax(votes, axis=1)


def vote_counts(predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """M×n base predictions → n×C vote counts."""
    m, n = predictions.shape
    votes = np.zeros((n, num_classes), np.int64)
    for row in predictions:
        votes[np.arange(n), row] += 1
    return votes


@dataclass
class TaskPredictions:
    prediction: np.ndarray                 # n_test predicted labels
    test_features: List[np.ndarray]        # per member, n_test × D
    votes: Optional[np.ndarray] = None     # n_test × C for ensembles
    extra_prediction: Optional[np.ndarray] = None  # predicted labels of the extra (triggered) inputs


class FeatureMemo:
    """Features per (encoder object, split): an encoder shared by two operating points (no attack,
    no defense; clean encoder reused by curves) is run over each split once. With a
    :class:`~benchmark.feature_store.FeatureStore`, features of cached encoders (those carrying a
    content key) are also shared across cells and runs through the disk."""

    def __init__(self, device: str = "cpu", store: Optional[FeatureStore] = None):
        self.device, self.store = device, store
        self._store: Dict = {}

    def __call__(self, member, split_id: str, images: np.ndarray, keep: bool = True) -> np.ndarray:
        """The features of ``member`` on ``images``; ``keep=False`` computes (or reads from the disk
        store) without holding them here — an ensemble's members are each probed once, and 100
        members' features of every split would hold gigabytes."""
        encoder = module_of(member)
        key = (id(encoder), split_id)
        if key not in self._store:
            def compute():
                return extract_features(encoder, images, self.device)
            feats = self.store.get(getattr(member, "key", None), images, compute) if self.store else compute()
            if not np.isfinite(feats).all():  # a diverged encoder must never reach a record
                raise BenchmarkError(f"non-finite features from encoder {getattr(member, 'key', '?')} on {split_id}")
            if not keep:
                return feats
            self._store[key] = (encoder, feats)
        return self._store[key][1]


def predict_task(encoders, cfg: ProbeConfig, task: str, splits, seed: int, memo: FeatureMemo,
                 extra: Optional[np.ndarray] = None) -> TaskPredictions:
    """Predictions on the task's test split — and on ``extra`` inputs (a backdoor's triggered test
    inputs) by the same probes, when given."""
    train, test = splits["train"], splits["test"]
    preds, feats, extra_preds = [], [], []
    keep = len(encoders) == 1   # a single encoder may serve two operating points; members serve one
    for i, member in enumerate(encoders):
        f_train = memo(member, f"{task}/train", train.images, keep)
        f_test = memo(member, f"{task}/test", test.images, keep)
        probe_model = LinearProbe(cfg, train.num_classes, seed + i, memo.device).fit(f_train, train.labels)
        preds.append(probe_model.predict(f_test))
        feats.append(f_test)
        if extra is not None:
            extra_preds.append(probe_model.predict(memo(member, f"{task}/triggered", extra, keep)))
        if not keep:
            del f_train  # an ensemble member's train features are not needed again
            release_freed_memory()
    if len(preds) == 1:
        return TaskPredictions(preds[0], feats, extra_prediction=extra_preds[0] if extra_preds else None)
    votes = vote_counts(np.stack(preds), train.num_classes)
    extra_votes = majority_vote(vote_counts(np.stack(extra_preds), train.num_classes)) if extra_preds else None
    return TaskPredictions(majority_vote(votes), feats, votes, extra_votes)
