"""faiss K-means against scikit-learn KMeans on the kmeans defense's own pixel matrix.

    python benchmarks/kmeans_faiss_vs_sklearn.py --data-root ../shared/data [--tier cpu] [--seed 0] [--repeats 3]

The kmeans defense (PoisonedEncoder §6.1) clusters the flattened pixels of the poisoned pre-training
set (the tier's CIFAR-10 subset plus PoisonedEncoder's poisons for the seed's targets) into K = 100
clusters. Both libraries get the same float32 matrix, K, 20 Lloyd iterations and one
initialisation; we print wall time (best of --repeats, same process), the ratio, the inertia (sum
of squared distances to the assigned centroid, computed the same way for both) and what the defense
would flag with each clustering (FPR / FNR, poison = positive). Without --data-root the synthetic
dataset stands in. Results: results/kmeans_faiss_vs_sklearn.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmark.core.metrics import detection_rates
from benchmark.encoder_cache import EncoderCache
from benchmark.pipeline import PlannedPoisons, create_entries, load_config, load_data, run_pipeline
from benchmark.runner import Options
from benchmark.trainer import PlanningTrainer
from defenses.kmeans import kmeans_assign, tightest_clusters


def inertia(x: np.ndarray, assign: np.ndarray) -> float:
    total = 0.0
    for c in np.unique(assign):
        rows = x[assign == c]
        total += float(((rows - rows.mean(0)) ** 2).sum())
    return total


def sklearn_assign(x: np.ndarray, k: int, niter: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans  # why: the reference implementation, only for this comparison
    return KMeans(n_clusters=k, n_init=1, max_iter=niter, tol=0.0, algorithm="lloyd",
                  random_state=seed).fit_predict(x).astype(np.int64)


def poisoned_matrix(tier: str, data_root, seed: int):
    """The pixel matrix the kmeans defense clusters: the cell pipeline's poisoned set (nothing trained)."""
    cfg = load_config(tier)
    options = Options(data_root=data_root, cache_dir=Path(tempfile.gettempdir()) / "cl-poisonbench-plan")
    data = load_data(cfg, options)
    attack, defense = create_entries(cfg, "poisoned_encoder", "none")
    trainer = PlanningTrainer(EncoderCache(options.cache_dir, progress=False), seed, cfg.pretrain)
    images = run_pipeline(cfg, attack, defense, seed, data, trainer, PlannedPoisons()).train_set
    is_poison = np.arange(len(images)) >= len(data.pretrain)
    return images.reshape(len(images), -1).astype(np.float32) / 255.0, is_poison


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", help="image-folder tars (default: synthetic data)")
    ap.add_argument("--tier", default="cpu", help="tier whose pre-training set and threat to use (default: cpu)")
    ap.add_argument("--seed", type=int, default=0, help="threat and clustering seed (default: 0)")
    ap.add_argument("--k", type=int, default=100, help="clusters (default: 100, the paper's)")
    ap.add_argument("--niter", type=int, default=20, help="Lloyd iterations for both (default: 20)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats, best kept (default: 3)")
    args = ap.parse_args(argv)

    x, is_poison = poisoned_matrix(args.tier, args.data_root, args.seed)
    print(f"matrix {x.shape[0]} x {x.shape[1]} float32 ({is_poison.sum()} poisons), K={args.k}, {args.niter} iterations")
    rows = {}
    for name, fn in (("faiss", kmeans_assign), ("scikit-learn", sklearn_assign)):
        best, assign = float("inf"), None
        for _ in range(args.repeats):
            t = time.perf_counter()
            assign = fn(x, args.k, args.niter, args.seed)
            best = min(best, time.perf_counter() - t)
        flagged = np.isin(assign, tightest_clusters(x, assign, 4))
        fpr, fnr = detection_rates(~flagged, is_poison)
        rows[name] = (best, inertia(x, assign), fpr, fnr)
        print(f"{name:>13}: {best:7.2f} s  inertia {rows[name][1]:.4e}  flag 4 tightest → FPR {fpr:.3f} FNR {fnr:.3f}")
    f, s = rows["faiss"], rows["scikit-learn"]
    print(f"faiss is {s[0] / f[0]:.1f}x faster; inertia ratio faiss/sklearn {f[1] / s[1]:.4f}")


if __name__ == "__main__":
    main()
