"""The competence of a backbone while it trains: linear-probe accuracy of its latest epoch (issue 18).

    python benchmarks/backbone_progress.py cifar10-simclr-w16 --data-root ../shared/data [--cache-dir DIR]

A SimCLR backbone takes hours on 2 cores and is built across sessions (``python -m benchmark.backbone``
resumes per epoch). This reads the checkpoint it last saved (``last.safetensors`` in its cache
workdir — nothing is trained or changed), measures the same linear probe the finished backbone's
JSON reports (:func:`benchmark.backbone.competence`), and appends one row to
``benchmarks/results/backbone_<name>.md``: what epochs buy, measured as they are spent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.backbone import backbone_images, competence, load_recipe, workdir_of
from benchmark.core.errors import BenchmarkError, report
from benchmark.core.store import default_cache_dir
from benchmark.ssl.checkpoint import load_checkpoint, read_meta
from benchmark.ssl.simclr import SimCLRModel, build_encoder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="a backbone recipe in benchmark/backbones/")
    p.add_argument("--data-root", required=True, metavar="DIR")
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    p.add_argument("--device", default="cpu")
    p.add_argument("--output", type=Path, default=None, help="default: benchmarks/results/backbone_<name>.md")
    args = p.parse_args(argv)
    try:
        name, recipe = load_recipe(args.name)
        if recipe.method != "simclr":
            raise BenchmarkError(f"{name} is a {recipe.method} backbone; this reads SimCLR checkpoints")
        last = workdir_of(recipe, backbone_images(recipe, args.data_root), args.cache_dir) / "last.safetensors"
        if not last.is_file():
            raise BenchmarkError(f"no checkpoint of {name} under {args.cache_dir}: start python -m benchmark.backbone {name}")
        meta = read_meta(last)
        model = SimCLRModel(build_encoder(recipe.pretrain_config()))
        load_checkpoint(last, model)
        probe = competence(model.encoder.eval(), recipe, args.data_root, args.device)
    except BenchmarkError as exc:
        return report(exc)
    wall, cpu = (meta.get("spent") or [float("nan")] * 2)[:2]
    row = (f"| {meta['epoch']} | {probe['accuracy']:.3f} | {meta['losses'][-1]:.3f} | {wall / 60:.0f} | {cpu / 60:.0f} |")
    out = args.output or Path("benchmarks/results") / f"backbone_{name}.md"
    if not out.exists():
        out.write_text(f"# Backbone `{name}` while it trains\n\nLinear probe: CIFAR-10, {probe['train']} train / "
                       f"{probe['test']} test images, {probe['epochs']} epochs (the finished backbone's JSON uses the same).\n"
                       "Minutes: cumulative training time over every resume.\n\n"
                       "| epoch | linear probe | NT-Xent loss | wall min | CPU min |\n|---|---|---|---|---|\n")
    with out.open("a") as fh:
        fh.write(row + "\n")
    print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
