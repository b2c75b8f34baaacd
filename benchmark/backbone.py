"""The public clean backbone of the continued-pre-training threat model (issue 18).

A victim takes a published, clean pre-trained encoder and continues contrastive pre-training on
its own partly poisoned data. The literature's cheap poisoning successes all act on such a short
stage over a *competent* model (Yang et al., ICML 2023; Schwarzschild et al., ICML 2021; Jia et al.,
BadEncoder, S&P 2022) — from-scratch poisoning at CPU scale does not act (benchmarks/results/
calibration.md). This module builds that checkpoint once and hands it out verified.

A backbone is a recipe ``benchmark/backbones/NAME.toml`` plus, once built, ``NAME.safetensors``
(the encoder's weights only: input normalisation and trunk, no projection head) and ``NAME.json``
(its sha256, the recipe, cost and CIFAR-10 linear-probe accuracy). :func:`resolve` refuses a file
whose sha256 differs from the JSON's; nothing is ever unpickled. Training data are the images of
the recipe's dataset *outside* ``stratified_subset(limit=exclude_limit)`` — the subset the tiers'
victim sets and downstream probe sets are drawn from — so backbone and victim never share an image.

Methods: ``simclr`` (the project's SimCLR loop) and ``supervised`` (cross-entropy with a linear
head, crop + flip, SGD with a cosine schedule; far cheaper on CPU — recorded as such in the JSON).
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .placement import add_placement_flags, apply_placement
from .data import ImageDataset, load_split
from .data.sources import stratified_indices
from .core.errors import BenchmarkError, report
from .evaluate import LinearProbe, extract_features
from .ssl.augment import augment
from .ssl.checkpoint import load_checkpoint, read_meta, save_checkpoint
from .ssl.simclr import Encoder, build_encoder, pretrain
from .core.store import atomic_write_json, config_hash, default_cache_dir, file_sha256, images_sha256, read_json
from .core.config import read_named_toml
from .core.settings import AugmentConfig, PretrainConfig, ProbeConfig

BACKBONE_DIR = Path(__file__).parent / "backbones"
METHODS = ("supervised", "simclr")
# Crop and flip only: the usual supervised CIFAR recipe, milder than SimCLR's crops.
SUPERVISED_AUGMENT = AugmentConfig(crop_scale=(0.25, 1.0), jitter_p=0.0, grayscale_p=0.0)


@dataclass(frozen=True)
class BackboneRecipe:
    """What determines a backbone; its hash names the cache entry it is trained in."""
    method: str = "supervised"
    dataset: str = "cifar10"
    exclude_limit: int = 10000          # the victim's and probes' stratified subset, left out
    arch: str = "resnet18"
    width: int = 16
    blocks: Sequence[int] = (2, 2, 2, 2)
    epochs: int = 15
    batch_size: int = 256
    lr: float = 0.1
    weight_decay: float = 5e-4
    seed: int = 0

    def __post_init__(self):
        if self.method not in METHODS:
            raise BenchmarkError(f"backbone method must be one of {', '.join(METHODS)}, got {self.method!r}")
        for key in ("exclude_limit", "width", "epochs", "batch_size"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise BenchmarkError(f"backbone {key} must be an integer >= 1, got {getattr(self, key)!r}")
        if not (math.isfinite(self.lr) and self.lr > 0 and math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise BenchmarkError(f"backbone lr must be > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}")

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["blocks"] = list(self.blocks)
        return d

    def pretrain_config(self) -> PretrainConfig:
        """The architecture (and, for ``simclr``, the training loop) as a :class:`PretrainConfig`."""
        return PretrainConfig(arch=self.arch, width=self.width, blocks=tuple(self.blocks), epochs=self.epochs,
                              batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay)


@dataclass(frozen=True)
class Backbone:
    name: str
    path: Path
    sha256: str
    info: Dict[str, Any] = field(default_factory=dict)


def load_recipe(name_or_path: str) -> tuple:
    """(name, recipe) from ``benchmark/backbones/NAME.toml`` or a .toml path."""
    path, spec = read_named_toml(name_or_path, BACKBONE_DIR, "backbone")
    try:
        return path.stem, BackboneRecipe(**{k: tuple(v) if isinstance(v, list) else v
                                            for k, v in spec.get("backbone", {}).items()})
    except TypeError as exc:
        raise BenchmarkError(f"backbone file {path}: {exc}") from exc


def same_recipe(name: str, arch: str) -> str:
    """The backbone recipe in :data:`BACKBONE_DIR` that is ``name``'s with ``arch`` in place of its
    architecture — the backbone a cell that changes only the architecture continues (Table 6) — or
    ``""`` when there is none. The recipe is matched, not the file: an unbuilt match fails later with
    the command that builds it."""
    want = replace(load_recipe(name)[1], arch=arch)
    for toml in sorted(BACKBONE_DIR.glob("*.toml")):
        if load_recipe(str(toml))[1] == want:
            return toml.stem
    return ""


@functools.lru_cache(maxsize=32)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    """A file's sha256, hashed once per (path, size, mtime): every encoder key of a continued tier
    resolves the backbone (bagging asks for a hundred), and a rewritten file is hashed afresh."""
    return file_sha256(path)


def resolve(name_or_path: str) -> Backbone:
    """The built backbone NAME (or the .safetensors at a path), its sha256 checked against its JSON."""
    path = Path(name_or_path)
    if path.suffix != ".safetensors":
        path = BACKBONE_DIR / f"{name_or_path}.safetensors"
    info_path = path.with_suffix(".json")
    if not path.is_file() or not info_path.is_file():
        raise BenchmarkError(f"backbone {name_or_path!r} is not built ({path} and its .json are needed): "
                             f"python -m benchmark.backbone {path.stem} --data-root DIR")
    info = read_json(info_path)
    stat = path.stat()
    digest = _sha256_of(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if digest != info.get("sha256"):
        raise BenchmarkError(f"backbone {path} does not match the sha256 in {info_path.name}; rebuild it")
    return Backbone(path.stem, path, digest, info)


def backbone_images(recipe: BackboneRecipe, data_root: Optional[str]) -> ImageDataset:
    """The recipe's dataset minus the stratified subset the tiers draw victims and probes from."""
    full = load_split(recipe.dataset, "train", data_root=data_root)
    keep = np.ones(len(full), bool)
    keep[stratified_indices(full.labels, recipe.exclude_limit)] = False
    return full.subset(np.flatnonzero(keep))


def cosine_lr(base: float, epoch: int, step: int, steps: int, epochs: int) -> float:
    """Cosine decay from ``base`` to 0 over all steps (a pure function of the position: resumable)."""
    t = (epoch * steps + step) / max(1, epochs * steps)
    return 0.5 * base * (1 + math.cos(math.pi * t))


def train_supervised(ds: ImageDataset, recipe: BackboneRecipe, workdir: Path, device: str = "cpu",
                     progress: bool = True) -> Encoder:
    """Cross-entropy training of encoder + linear head; resumes from ``workdir/last.safetensors``."""
    dev = torch.device(device)
    torch.manual_seed(recipe.seed)
    encoder = build_encoder(recipe.pretrain_config())
    model = nn.Sequential(encoder, nn.Linear(encoder.feature_dim, ds.num_classes)).to(dev, memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=0.9, nesterov=True, weight_decay=recipe.weight_decay)
    start, spent = 0, {"wall": 0.0, "cpu": 0.0}
    if (workdir / "last.safetensors").exists():
        meta = load_checkpoint(workdir / "last.safetensors", model, opt, device=dev)
        start, spent = int(meta["epoch"]), dict(meta.get("spent", spent))
    t0, c0 = time.perf_counter(), time.process_time()
    data = torch.from_numpy(np.ascontiguousarray(ds.images)).to(dev).permute(0, 3, 1, 2)
    labels = torch.from_numpy(ds.labels.astype(np.int64)).to(dev)
    n, batch = len(ds), min(recipe.batch_size, len(ds))
    steps = n // batch
    bar = tqdm(range(start, recipe.epochs), desc="backbone (supervised)", disable=not progress,
               initial=start, total=recipe.epochs, unit="ep")
    for epoch in bar:
        model.train()
        g = torch.Generator(device=dev).manual_seed(recipe.seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=g, device=dev)
        correct = 0
        for step in range(steps):
            idx = perm[step * batch:(step + 1) * batch]
            x = augment(data[idx].float().div_(255), SUPERVISED_AUGMENT, g).contiguous(memory_format=torch.channels_last)
            for group in opt.param_groups:
                group["lr"] = cosine_lr(recipe.lr, epoch, step, steps, recipe.epochs)
            logits = model(x)
            loss = nn.functional.cross_entropy(logits, labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            correct += int((logits.argmax(1) == labels[idx]).sum())
        bar.set_postfix(train_acc=f"{correct / (steps * batch):.3f}")
        # Cumulative training time over every process that worked on this backbone: its true cost.
        now = {"wall": spent["wall"] + time.perf_counter() - t0, "cpu": spent["cpu"] + time.process_time() - c0}
        save_checkpoint(workdir / "last.safetensors", model, opt, meta={"epoch": epoch + 1, "spent": now})
    return encoder.eval()


def training_seconds(workdir: Path) -> Dict[str, float]:
    """Cumulative wall and CPU seconds of a supervised backbone's training (all resumes)."""
    return dict(read_meta(workdir / "last.safetensors").get("spent", {}))


def workdir_of(recipe: BackboneRecipe, ds: ImageDataset, cache_dir: Path) -> Path:
    """Where a backbone trains (and resumes): named by its recipe and the exact training images."""
    return Path(cache_dir) / "backbones" / config_hash({"recipe": recipe.to_dict(), "data": images_sha256(ds.images)}, 20)


def competence(encoder: Encoder, recipe: BackboneRecipe, data_root: Optional[str], device: str = "cpu",
               probe_epochs: int = 100) -> Dict[str, Any]:
    """Linear-probe accuracy on the recipe's dataset: probe trained on the excluded subset's train
    images (the tiers' own downstream set), tested on the test split (the paper's probe: one linear
    layer, Adam 1e-3, batch 512): ``{"accuracy", "train", "test", "epochs"}``."""
    probe_train = load_split(recipe.dataset, "train", data_root=data_root, limit=recipe.exclude_limit)
    probe_test = load_split(recipe.dataset, "test", data_root=data_root)
    f_train, f_test = (extract_features(encoder, s.images, device) for s in (probe_train, probe_test))
    probe = LinearProbe(ProbeConfig(epochs=probe_epochs), probe_train.num_classes, 0, device).fit(f_train, probe_train.labels)
    return {"accuracy": float((probe.predict(f_test) == probe_test.labels).mean()), "train": len(probe_train),
            "test": len(probe_test), "epochs": probe_epochs}


def build(name_or_path: str, data_root: Optional[str], cache_dir: Path, out_dir: Path = BACKBONE_DIR,
          device: str = "cpu", progress: bool = True, probe_epochs: int = 100) -> Backbone:
    """Train (or resume) the backbone in the cache and write NAME.safetensors + NAME.json to
    ``out_dir`` with its :func:`competence`."""
    name, recipe = load_recipe(name_or_path)
    ds = backbone_images(recipe, data_root)
    workdir = workdir_of(recipe, ds, cache_dir)
    workdir.mkdir(parents=True, exist_ok=True)
    if recipe.method == "supervised":
        encoder = train_supervised(ds, recipe, workdir, device, progress)
        spent = training_seconds(workdir)
    else:
        res = pretrain(ds.images, recipe.pretrain_config(), recipe.seed, device, workdir, progress,
                       desc="backbone (simclr)")
        encoder, spent = res.encoder, {"wall": res.wall_seconds, "cpu": res.cpu_seconds}
    probe = competence(encoder, recipe, data_root, device, probe_epochs)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.safetensors"
    save_checkpoint(path, encoder.cpu(), meta={"backbone": name, "recipe": recipe.to_dict()})
    info = {"name": name, "sha256": file_sha256(path), "recipe": recipe.to_dict(), "train_images": len(ds),
            "train_images_sha256": images_sha256(ds.images), "linear_probe_accuracy": round(probe.pop("accuracy"), 4),
            "probe": probe,
            "train_seconds": spent, "torch": torch.__version__,
            "command": f"python -m benchmark.backbone {name} --data-root DIR"}
    atomic_write_json(path.with_suffix(".json"), info)
    return resolve(str(path))


def main(argv=None) -> int:
    """python -m benchmark.backbone NAME --data-root DIR — build a committed backbone (resumable)."""
    p = argparse.ArgumentParser(prog="python -m benchmark.backbone", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help=f"a recipe in {BACKBONE_DIR} (known: "
                                f"{', '.join(sorted(x.stem for x in BACKBONE_DIR.glob('*.toml')))}) or a .toml path")
    p.add_argument("--data-root", required=True, metavar="DIR", help="directory with NAME/{train,test}.tar")
    p.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                   help=f"where training checkpoints go, for resume (default: {default_cache_dir()})")
    p.add_argument("--output-dir", type=Path, default=BACKBONE_DIR, metavar="DIR",
                   help=f"where NAME.safetensors and NAME.json are written (default: {BACKBONE_DIR})")
    add_placement_flags(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    try:
        apply_placement(args)
        bb = build(args.name, args.data_root, args.cache_dir or default_cache_dir(), args.output_dir, args.device,
                   not args.no_progress)
    except BenchmarkError as exc:
        return report(exc)
    print(f"{bb.path}  sha256 {bb.sha256}  linear probe {bb.info['linear_probe_accuracy']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
