"""The tier's configuration as typed, frozen values, built once when a tier is loaded.

:func:`benchmark.core.config.load_tier` validates the TOML (ranges, unknown keys, ``--set``) and
hands the result to :meth:`TierConfig.from_dict`; from there on every command, the cell pipeline
and the defense hooks see these dataclasses — a hook changes a config with
``dataclasses.replace``, never by mutating what the harness holds. The parsed tier itself is kept
as canonical JSON (:attr:`TierConfig.source`): the grid hash and the records are computed from it,
so they are those of the file plus its overrides, whatever defaults the dataclasses fill in.

Torch-free: the SSL code, the probe and the planners import these, never the other way round.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from .errors import BenchmarkError
from .records import grid_hash


@dataclass(frozen=True)
class AugmentConfig:
    """SimCLR's view augmentations (Chen et al., 2020; PoisonedEncoder §5.1); applied in batches by
    :mod:`benchmark.ssl.augment`."""
    crop: bool = True               # False = the paper's "no random cropping" defense (§6.2)
    crop_scale: tuple = (0.08, 1.0)
    crop_ratio: tuple = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grayscale_p: float = 0.2
    # > 0: localized cropping (CorruptEncoder's defense, Zhang et al. CVPR 2024): view 2's crop is
    # drawn inside view 1's box enlarged by this fraction of its size on each side, with its centre
    # inside view 1's box, so the two views of a pair always overlap. 0 = independent crops (SimCLR).
    localized: float = 0.0


# The method fields' defaults, left out of a config's dict (its cache key) while they hold them.
METHOD_DEFAULTS = {"method": "simclr", "optimizer": "adam", "schedule": "constant", "momentum": 0.99, "queue_size": 4096}


@dataclass(frozen=True)
class PretrainConfig:
    """A tier's ``[pretrain]`` table: encoder architecture and the SimCLR training loop."""
    arch: str = "resnet18"
    width: int = 64
    blocks: Sequence[int] = (2, 2, 2, 2)
    epochs: int = 300
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 1e-6
    temperature: float = 0.5
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    checkpoint_epochs: Sequence[int] = ()
    # A published backbone (benchmark/backbones/NAME) to continue from: the continued-pre-training
    # threat model. "" = from scratch. Resolved (and its sha256 keyed) by the encoder cache.
    init: str = ""
    # Stages (stem + the first N of ``blocks``) kept fixed while continuing from ``init``: the
    # cheaper "train only the last stage(s)" variant of continued pre-training. 0 = train all.
    frozen_stages: int = 0
    # The self-supervised method (benchmark/ssl/methods.py: simclr, moco_v2, byol) and the trainer's
    # optimiser ("adam" | "sgd", momentum 0.9) and learning-rate schedule ("constant" | "cosine").
    method: str = "simclr"
    optimizer: str = "adam"
    schedule: str = "constant"
    momentum: float = 0.99      # MoCo's key encoder / BYOL's target (its starting value) moving average
    queue_size: int = 4096      # MoCo's queue of negatives

    def to_dict(self) -> Dict[str, Any]:
        """The encoder cache's view of this config (its key is a hash of it)."""
        d = asdict(self)
        d["blocks"] = list(self.blocks)
        d["checkpoint_epochs"] = sorted(set(int(e) for e in self.checkpoint_epochs))
        for key in ("init", "frozen_stages"):  # unset: keep the keys of encoders cached before they existed
            if not d[key]:
                del d[key]
        for key, default in METHOD_DEFAULTS.items():  # likewise for SimCLR encoders
            if d[key] == default:
                del d[key]
        if not d["augment"]["localized"]:  # likewise
            del d["augment"]["localized"]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PretrainConfig":
        """From a TOML table or :meth:`to_dict`'s output (lists become tuples: the config is hashable)."""
        fields: Dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        aug = fields.pop("augment", None) or {}
        if isinstance(aug, Mapping):
            aug_fields: Dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in aug.items()}
            aug = AugmentConfig(**aug_fields)
        return cls(augment=aug, **fields)


@dataclass(frozen=True)
class ProbeConfig:
    """The downstream linear probe (PoisonedEncoder §5.1: Adam, lr 1e-3, batch 512, 100 epochs)."""
    epochs: int = 100
    lr: float = 1e-3
    batch_size: int = 512
    feature_norm: str = "none"      # "none" (paper) or "l2"

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ProbeConfig":
        return cls(**d)


@dataclass(frozen=True)
class ThreatConfig:
    """How a seed's threat is drawn (:func:`benchmark.core.threat.draw_threat`)."""
    targets_per_task: int
    n_references: int
    poison_rate: float               # per target, a fraction of the clean pre-training set
    only_target: int = -1            # -1: every target in one poisoned run; k: only the k-th (one per run)
    # The largest clean subset a post-processing defense may ask for, as a fraction of the clean
    # pre-training set: what a provider can plausibly verify by hand. The paper's fine-tuning
    # (Fig. 11) sweeps the fraction on a log axis; 0.5 keeps "knows the whole clean set" — which
    # is knowing the poisons — out of reach while allowing the built-in fine-tuning's default.
    max_clean_fraction: float = 0.5


@dataclass(frozen=True)
class DataSource:
    """One dataset of ``[data]``: the pre-training set (``split``, ``limit``) or a downstream task
    (``train_limit``, ``test_limit``)."""
    name: str
    split: str = "train"
    limit: Optional[int] = None
    train_limit: Optional[int] = None
    test_limit: Optional[int] = None


def _typed(cls, table: Mapping[str, Any], where: str):
    try:
        return cls.from_dict(table) if hasattr(cls, "from_dict") else cls(**table)
    except TypeError as exc:  # an unknown or missing key: one line, not a traceback
        raise BenchmarkError(f"{where}: {exc}") from exc


# A seed is also folded into derived seeds (e.g. seed × 1,000,003 + epoch) that torch's and numpy's
# generators must accept: 31 bits leave that arithmetic far inside 64.
MAX_SEED = 2**31 - 1


def check_seeds(seeds: Sequence[int], where: str = "seeds") -> Tuple[int, ...]:
    """``seeds`` as a tuple, or the one-line refusal: each must be an integer from 0 to :data:`MAX_SEED`
    (a 70-bit seed reached torch.manual_seed and died in a traceback after the record path was locked)."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise BenchmarkError(f"{where} must be a list of integers, got {seeds!r}")
    if not seeds:
        raise BenchmarkError(f"{where}: at least one seed is needed")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED]
    if bad:
        raise BenchmarkError(f"{where} must be integers from 0 to {MAX_SEED}, got {bad[0]!r}")
    return tuple(seeds)


@dataclass(frozen=True)
class TierConfig:
    """A loaded tier: what every command, the cell pipeline and the planners run on."""
    name: str
    pretrain_data: DataSource
    tasks: Tuple[DataSource, ...]
    pretrain: PretrainConfig
    threat: ThreatConfig
    probe: ProbeConfig
    seeds: Tuple[int, ...]
    source: str                      # canonical JSON of the validated tier (file + overrides)

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> "TierConfig":
        """Build from a validated tier dict (:func:`benchmark.core.config.validate`)."""
        data = cfg["data"]
        return cls(name=str(cfg["tier"]["name"]), pretrain_data=_typed(DataSource, data["pretrain"], "[data] pretrain"),
                   tasks=tuple(_typed(DataSource, t, "[data] tasks") for t in data["tasks"]),
                   pretrain=_typed(PretrainConfig, cfg["pretrain"], "[pretrain]"),
                   threat=_typed(ThreatConfig, cfg["threat"], "[threat]"),
                   probe=_typed(ProbeConfig, cfg["probe"], "[probe]"),
                   seeds=check_seeds(cfg.get("run", {}).get("seeds", [0]), "[run] seeds"),
                   source=json.dumps(cfg, sort_keys=True))

    def as_dict(self) -> Dict[str, Any]:
        """A fresh copy of the tier as parsed (the grid hash, the records, and the base of overrides)."""
        return json.loads(self.source)

    def entry_params(self, kind: str, name: str) -> Dict[str, Any]:
        """The tier's ``[KIND.NAME]`` table (``kind`` = ``attack`` or ``defense``), a copy."""
        return dict(self.as_dict().get(kind, {}).get(name, {}))

    def grid_hash(self) -> str:
        return grid_hash(self.as_dict())


# The keys a typed section may hold, set in the file or not: the dataclasses' own fields.
SECTION_TYPES = {"pretrain": PretrainConfig, "threat": ThreatConfig, "probe": ProbeConfig}
SECTION_KEYS = {name: tuple(f.name for f in dataclasses.fields(cls)) for name, cls in SECTION_TYPES.items()}
