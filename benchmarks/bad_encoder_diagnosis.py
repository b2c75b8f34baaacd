"""Where does a BadEncoder cell's backdoor stand? Feature geometry and the probe, per downstream task.

    PYTHONPATH=.:benchmarks python benchmarks/bad_encoder_diagnosis.py --data-root ../shared/data \
        --tier cpu_continued --model-key KEY [--seed 0] [--set attack.bad_encoder.X=V ...] [--output FILE]

For the seed's clean encoder (from the cache) and the backdoored encoder of model-store entry
``KEY`` (``<cache>/models/bad_encoder/KEY``), per target of the backdoor threat: what the clean
pipeline's probe predicts for the target class's first 10 references (a backdoor that maps triggered
inputs onto the references can only reach the target class if the probe puts the references
there), and the mean cosine to the mean feature of the references the attack pulls toward (its
first ``n_references``) of 300 test inputs with and without the task's trigger, and of 300
triggered shadow-distribution images; and the triggered inputs' feature norm relative to the
references' (the tier's linear probe reads raw features, so a direction alone does not decide the
class). A backdoor that acts raises the
triggered cosine far above the untriggered one; a drift of every feature raises both.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F

from attacks.bad_encoder import stamp_corner
from benchmark.downstream import FeatureMemo, predict_task
from benchmark.encoder_cache import EncoderCache
from benchmark.pipeline import backdoor_threat, cell_threat, create_entries, load_data
from benchmark.ssl.simclr import load_encoder_checkpoint
from cached_cell import analysis_parser, run_analysis

N = 300


def _unit_features(module, images: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return F.normalize(module(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255), dim=1)


def _norms(module, images: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return module(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).norm(dim=1)


def measure(cfg, options, seed: int, key: str):
    data = load_data(cfg, options)
    clean = EncoderCache(options.cache_dir, options.device, progress=False).get(data.pretrain.images, cfg.pretrain,
                                                                                 seed, "clean")
    bad = load_encoder_checkpoint(options.cache_dir / "models" / "bad_encoder" / key / "final.safetensors",
                                  cfg.pretrain, options.device)
    used = create_entries(cfg, "bad_encoder", "none")[0].n_references
    memo, rows = FeatureMemo(options.device), []
    for tid, t in enumerate(backdoor_threat(cell_threat(cfg, data, seed)).targets):
        splits = data.tasks[t.task]
        refs = splits["test"].images[list(t.reference_indices[:10])]
        on_refs = predict_task([clean], cfg.probe, t.task, splits, seed, memo, refs).extra_prediction
        x, shadow = splits["test"].images[:N], data.pretrain.images[:N]
        cos, norm = [], []
        for module in (clean.encoder, bad):
            centre = _unit_features(module, refs[:used]).mean(0)
            cos.append([float((_unit_features(module, imgs) @ centre).mean())
                        for imgs in (stamp_corner(x, 10, tid), x, stamp_corner(shadow, 10, tid))])
            norm.append(float(_norms(module, stamp_corner(x, 10, tid)).mean() / _norms(module, refs[:used]).mean()))
        rows.append((t.task, t.target_class, int(np.sum(on_refs == t.target_class)), on_refs.tolist(), cos, norm))
    return rows


def render(rows, title: str) -> str:
    lines = [f"# {title}\n", "| task | target class | probe puts refs in it | cos triggered test (clean → backdoored) "
             "| cos clean test | cos triggered shadow | ‖f(triggered)‖ / ‖f(refs)‖ |", "|---|---|---|---|---|---|---|"]
    for task, tc, hits, preds, (c, b), (nc, nb) in rows:
        lines.append(f"| {task} | {tc} | {hits}/10 ({', '.join(map(str, preds))}) | {c[0]:.3f} → {b[0]:.3f} "
                     f"| {c[1]:.3f} → {b[1]:.3f} | {c[2]:.3f} → {b[2]:.3f} | {nc:.2f} → {nb:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = analysis_parser(__doc__)
    p.add_argument("--model-key", required=True, help="the model-store entry of the backdoored encoder")
    args = p.parse_args(argv)
    return run_analysis(args, lambda cfg, options: measure(cfg, options, args.seed, args.model_key),
                        lambda rows: render(rows, f"{args.tier} — BadEncoder diagnosis, seed {args.seed}, model "
                                                  f"{args.model_key} (overrides: {', '.join(args.set) or 'none'})"))


if __name__ == "__main__":
    sys.exit(main())
