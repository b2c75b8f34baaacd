"""SimCLR pre-training (Chen et al., 2020) as the PoisonedEncoder paper runs it (§5.1), and the one
trainer every method (:mod:`benchmark.ssl.methods`: SimCLR here, MoCo v2, BYOL) runs on.

NT-Xent with temperature 0.5; projection head feature_dim→feature_dim (no bias)→BN→ReLU→
128·(feature_dim/512); Adam lr 1e-3, weight decay 1e-6. The whole (poisoned) pre-training
set lives on the device as uint8; each step gathers a batch and augments it there.

Reproducibility: model init uses ``seed``; every epoch's shuffling and augmentation use a
generator seeded by (seed, epoch). A run resumed from its epoch checkpoint therefore continues
exactly as the uninterrupted run would have, on CPU.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
from torch import nn
from safetensors import safe_open
from tqdm.auto import tqdm

from ..core.errors import BenchmarkError
from ..core.settings import AugmentConfig, PretrainConfig
from .augment import view_pair
from .checkpoint import load_checkpoint, read_meta, save_checkpoint
from .encoders import ENCODERS
from .losses import nt_xent
from .methods import METHODS, Method, mlp, projection_dim

# Input normalisation (CIFAR-10 channel statistics), part of the encoder so that every
# consumer — probes, defenses, attacks — feeds images in [0, 1].
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


class Encoder(nn.Module):
    """Backbone with input normalisation; maps float N×3×32×32 in [0, 1] to N×feature_dim."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.feature_dim: int = backbone.feature_dim
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone((x - self.mean) / self.std)


@METHODS.register("simclr")
class SimCLRModel(Method):
    """SimCLR: encoder + projection head, NT-Xent between the two views' projections."""

    def __init__(self, encoder: Encoder, cfg: Optional[PretrainConfig] = None):
        super().__init__(encoder)
        d = encoder.feature_dim
        self.head = mlp(d, d, projection_dim(d), bias=False)
        self.temperature = float(cfg.temperature) if cfg is not None else 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))

    def loss(self, views: torch.Tensor) -> torch.Tensor:
        b = views.shape[0] // 2
        z = self(views)
        return nt_xent(z[:b], z[b:], self.temperature)


@dataclass
class PretrainResult:
    encoder: Encoder
    epochs: int
    image_passes: int          # images forwarded through the encoder (2 views per image)
    wall_seconds: float        # of the training, summed over every process that resumed it (0 when loaded from cache)
    cpu_seconds: float
    losses: List[float]
    from_cache: bool
    epoch_checkpoints: Dict[int, Path]


def pretrain_image_passes(n_images: int, epochs: int, batch_size: int) -> int:
    """Images forwarded by :func:`pretrain` (2 views each; the last partial batch is dropped)."""
    batch = min(batch_size, n_images)
    return epochs * (n_images // batch) * batch * 2 if batch else 0


def build_encoder(cfg: PretrainConfig) -> Encoder:
    return Encoder(ENCODERS.create(cfg.arch, width=cfg.width, blocks=tuple(cfg.blocks)))


def build_model(cfg: PretrainConfig) -> Method:
    """The tier's method (``pretrain.method``) around a fresh encoder."""
    return METHODS.get(cfg.method)(build_encoder(cfg), cfg)


def _epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int(seed) * 1_000_003 + int(epoch))
    return g


def two_views(x: torch.Tensor, aug: AugmentConfig, g: torch.Generator,
              memory_format: torch.memory_format = torch.channels_last) -> torch.Tensor:
    """Both SimCLR views of a float batch, stacked as [view 1; view 2]."""
    return torch.cat(view_pair(x, aug, g)).contiguous(memory_format=memory_format)


def train_step(model: Method, opt: torch.optim.Optimizer, views: torch.Tensor, progress: float = 0.0) -> float:
    """One step of the method's loss on stacked views, then its post-step update; returns the loss."""
    loss = model.loss(views)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    model.after_step(progress)
    return loss.item()


def frozen_modules(model: Method, n_stages: int) -> List[nn.Module]:
    """The stem and the blocks of the first ``n_stages`` stages of a :class:`CifarResNet` trunk."""
    if n_stages <= 0:
        return []
    trunk = model.encoder.backbone
    blocks = getattr(trunk, "stage_blocks", None)
    if blocks is None or n_stages > len(blocks):
        raise ValueError(f"cannot freeze {n_stages} stages of {type(trunk).__name__}")
    return [trunk.stem, *list(trunk.layers)[:sum(blocks[:n_stages])]]


def make_optimizer(model: Method, cfg: PretrainConfig) -> torch.optim.Optimizer:
    """The tier's optimiser (Adam, or SGD with momentum 0.9 — MoCo v2's) over the trainable parameters
    (frozen stages and momentum networks excluded: no gradient is computed for them)."""
    for module in frozen_modules(model, cfg.frozen_stages):
        module.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def epoch_lr(cfg: PretrainConfig, epoch: int) -> float:
    """The learning rate of ``epoch`` (0-based): constant, or a cosine from ``lr`` toward 0."""
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * epoch / max(cfg.epochs, 1)))
    return cfg.lr


def load_init(path: Path, model: Method, device) -> None:
    """Start ``model`` from a finished run of the same method (encoder and extra networks: fine-tuning,
    §6.3), or take only the encoder — of a bare encoder file (a published backbone) or of another
    method's run — the rest keeping its fresh initialisation."""
    with safe_open(str(path), framework="pt") as fh:
        keys = {k for k in fh.keys() if k.startswith("model.")}
        if keys == {f"model.{k}" for k in model.state_dict()}:
            load_checkpoint(path, model, device=device)
            return
        prefix = "model.encoder." if any(k.startswith("model.encoder.") for k in keys) else "model."
        model.encoder.load_state_dict({k[len(prefix):]: fh.get_tensor(k).to(device) for k in keys if k.startswith(prefix)})
    model.sync_targets()


def _start(cfg: PretrainConfig, seed: int, dev: torch.device, init: Optional[Path]):
    """(model, optimiser) seeded by ``seed``, from ``init``'s weights when given."""
    torch.manual_seed(seed)
    # channels_last roughly doubles CPU convolution throughput here (measured in benchmarks/).
    model = build_model(cfg).to(dev, memory_format=torch.channels_last)
    if init is not None:
        load_init(Path(init), model, dev)
    return model, make_optimizer(model, cfg)


def _resume(cfg: PretrainConfig, seed: int, dev: torch.device, init: Optional[Path], workdir: Optional[Path]):
    """(model, optimiser, first epoch to run, losses so far, (wall, CPU) seconds already spent): from
    ``workdir/last.safetensors`` when an earlier process left one, else a fresh start. Time spent by
    earlier processes is carried so a run's cost is its true cost over every resume."""
    model, opt = _start(cfg, seed, dev, init)
    last = workdir / "last.safetensors" if workdir is not None else None
    if last is None or not last.exists():
        return model, opt, 0, [], (0.0, 0.0)
    try:
        meta = load_checkpoint(last, model, opt, device=dev)
        return model, opt, int(meta["epoch"]), list(meta["losses"]), tuple(meta.get("spent", (0.0, 0.0)))
    except Exception as exc:  # unreadable resume point: start over rather than trust it
        warnings.warn(f"{last} is unreadable ({type(exc).__name__}); restarting", stacklevel=3)
        last.unlink()
        model, opt = _start(cfg, seed, dev, init)
        return model, opt, 0, [], (0.0, 0.0)


def _train_epoch(model: Method, opt, data: torch.Tensor, cfg: PretrainConfig, seed: int, epoch: int,
                 batch: int) -> float:
    """One epoch over ``data`` (uint8 NCHW) in full batches; the mean loss. The epoch's permutation,
    augmentations and learning rate come from the epoch's index, so a resumed run is bit-identical."""
    for group in opt.param_groups:
        group["lr"] = epoch_lr(cfg, epoch)
    model.train()
    for module in frozen_modules(model, cfg.frozen_stages):
        module.eval()  # frozen means frozen: BatchNorm keeps the backbone's running statistics
    g = _epoch_generator(seed, epoch, data.device)
    perm = torch.randperm(len(data), generator=g, device=data.device)
    steps = len(data) // batch  # drop the last partial batch: constant batch size for BatchNorm and NT-Xent
    total = 0.0
    for step in range(steps):
        x = data[perm[step * batch:(step + 1) * batch]].float().div_(255)
        progress = (epoch * steps + step + 1) / (cfg.epochs * steps)
        total += train_step(model, opt, two_views(x, cfg.augment, g), progress)
    return total / max(steps, 1)


def pretrain(images: np.ndarray, cfg: PretrainConfig, seed: int, device: str = "cpu",
             workdir: Optional[Path] = None, progress: bool = True, desc: str = "pre-train",
             init: Optional[Path] = None) -> PretrainResult:
    """Pre-train a SimCLR encoder on uint8 ``images`` (N×32×32×3).

    With ``workdir``: a finished run (``final.safetensors``) is loaded instead of retrained; an
    interrupted one resumes from ``last.safetensors``; encoder weights are kept at
    ``cfg.checkpoint_epochs`` (``epoch_XXXX.safetensors``) for early stopping.
    With ``init`` (a ``final.safetensors`` of another run): start from that encoder and head
    instead of a random initialisation — contrastive fine-tuning (paper §6.3).
    """
    dev = torch.device(device)
    n = len(images)
    batch = min(cfg.batch_size, n)
    passes_per_epoch = pretrain_image_passes(n, 1, cfg.batch_size)
    ckpt_epochs = sorted(set(int(e) for e in cfg.checkpoint_epochs if 0 < int(e) <= cfg.epochs))

    def epoch_paths() -> Dict[int, Path]:
        return {e: workdir / f"epoch_{e:04d}.safetensors" for e in ckpt_epochs} if workdir else {}

    if workdir is not None and (workdir / "final.safetensors").exists():
        torch.manual_seed(seed)
        model = build_model(cfg).to(dev, memory_format=torch.channels_last)
        meta = load_checkpoint(workdir / "final.safetensors", model, device=dev)
        return PretrainResult(model.encoder.eval(), cfg.epochs, cfg.epochs * passes_per_epoch, 0.0, 0.0,
                              meta.get("losses", []), True, epoch_paths())

    model, opt, start, losses, spent = _resume(cfg, seed, dev, init, workdir)

    data = torch.from_numpy(np.ascontiguousarray(images)).to(dev).permute(0, 3, 1, 2)  # uint8 NCHW view
    t0, c0 = time.perf_counter(), time.process_time()
    bar = tqdm(range(start, cfg.epochs), desc=desc, disable=not progress, leave=False,
               initial=start, total=cfg.epochs, unit="ep")
    for epoch in bar:
        losses.append(_train_epoch(model, opt, data, cfg, seed, epoch, batch))
        if not math.isfinite(losses[-1]):  # a diverged encoder must never reach a record
            raise BenchmarkError(f"pre-training diverged: loss {losses[-1]} at epoch {epoch + 1} "
                                 f"(lr {cfg.lr}, batch {cfg.batch_size}); nothing was recorded")
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        done = epoch + 1
        if workdir is not None:
            if done in ckpt_epochs:
                save_checkpoint(workdir / f"epoch_{done:04d}.safetensors", model.encoder, meta={"epoch": done})
            if done < cfg.epochs:
                now = [spent[0] + time.perf_counter() - t0, spent[1] + time.process_time() - c0]
                save_checkpoint(workdir / "last.safetensors", model, opt, meta={"epoch": done, "losses": losses, "spent": now})
    wall, cpu = spent[0] + time.perf_counter() - t0, spent[1] + time.process_time() - c0
    if workdir is not None:
        save_checkpoint(workdir / "final.safetensors", model, meta={"epoch": cfg.epochs, "losses": losses})
        (workdir / "last.safetensors").unlink(missing_ok=True)
    model.eval()
    model.zero_grad(set_to_none=True)  # the last step's gradients would stay allocated with the kept encoder
    return PretrainResult(model.encoder, cfg.epochs, cfg.epochs * passes_per_epoch, wall, cpu,
                          losses, False, epoch_paths())


def load_encoder_checkpoint(path: Path, cfg: PretrainConfig, device: str = "cpu") -> Encoder:
    """An encoder saved at an intermediate epoch (used by early stopping)."""
    enc = build_encoder(cfg).to(device)
    load_checkpoint(path, enc, device=device)
    return enc.eval()


def load_simclr_model(path: Path, cfg: PretrainConfig, device: str = "cpu", seed: int = 0) -> SimCLRModel:
    """Encoder and projection head of a finished run (``final.safetensors``), e.g. as a surrogate;
    from a bare encoder (a published backbone) the head is freshly initialised from ``seed``."""
    torch.manual_seed(seed)
    model = SimCLRModel(build_encoder(cfg), cfg).to(device)
    load_init(Path(path), model, device)
    return model


__all__ = ["build_model", "load_simclr_model", "pretrain_image_passes", "Encoder", "SimCLRModel", "PretrainResult", "pretrain", "two_views", "train_step",
           "load_encoder_checkpoint", "read_meta"]
