"""Where a grid's jobs run: ``local`` (one after another in this process) or ``ray`` (a Ray cluster;
``pip install -e '.[ray]'``). Every job is :func:`benchmark.runner.run_cell`, which is safe to run
concurrently: encoders and records sit behind file locks in the shared cache/results
directories, so two workers never train the same encoder or write the same record.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional

from tqdm.auto import tqdm

from .plugins import load_plugins
from .core.errors import BenchmarkError
from .core.settings import TierConfig
from .grid import Grid, Job
from .pipeline import load_data
from .runner import run_cell


def run_local(grid: Grid, options, progress: bool = True) -> List[Path]:
    data = load_data(grid.tier, options)  # loaded once for every job
    paths: Dict[Job, Path] = {}
    bar = tqdm(total=len(grid.jobs), desc=f"grid {grid.name}", disable=not progress, unit="job")
    # First pass: jobs another worker is computing are deferred, so several `--grid` processes on the
    # same results directory split the grid instead of queueing behind each other's current job.
    # Second pass: wait for the deferred ones, so every returned path exists.
    for wait in (False, True):
        for job in [j for j in grid.jobs if j not in paths]:
            bar.set_postfix(attack=job.attack, defense=job.defense, seed=job.seed)
            path = run_cell(grid.tier, job.attack, job.defense, job.seed, options, data=data, log=tqdm.write,
                            wait=wait)
            if path is not None:
                paths[job] = path
                bar.update()
    bar.close()
    return [paths[j] for j in grid.jobs]


def _ray_job(tier: TierConfig, job: Job, options) -> str:
    """Runs on a Ray worker: a fresh process, so plugins are loaded there too."""
    load_plugins()
    return str(run_cell(tier, job.attack, job.defense, job.seed, options, log=lambda *_: None))


def run_ray(grid: Grid, options, address: Optional[str] = None, num_cpus: Optional[int] = None,
            progress: bool = True) -> List[Path]:
    """Submit every job with its declared resources; a GPU cluster runs the paper tier in parallel."""
    try:
        import ray  # why: an optional extra (pip install -e '.[ray]'); local runs must not need it
    except ImportError as exc:
        raise BenchmarkError("--executor ray needs Ray: pip install -e '.[ray]'") from exc
    started = not ray.is_initialized()
    if started and not address:
        # Offline machines: Ray's usage-stats and metrics exporters otherwise stall each new worker
        # for about a minute (measured here: 60 s → 2 s for two trivial tasks).
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        os.environ.setdefault("RAY_enable_metrics_collection", "0")
        # Ray runs workers at nice 15; here the workers *are* the work, and beside any other busy
        # process they would otherwise get a sliver of the CPU (measured: 10-60x slower).
        os.environ.setdefault("RAY_worker_niceness", "0")
    if started:
        kwargs = {"address": address} if address else {"num_cpus": num_cpus, "include_dashboard": False}
        ray.init(ignore_reinit_error=True, log_to_driver=False, **kwargs)
    try:
        remote = ray.remote(_ray_job)
        refs = [remote.options(num_cpus=grid.cpus_per_job, num_gpus=grid.gpus_per_job).remote(grid.tier, job, options)
                for job in grid.jobs]
        paths = []
        with tqdm(total=len(refs), desc=f"grid {grid.name} (ray)", disable=not progress, unit="job") as bar:
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                paths.append(Path(ray.get(done[0])))
                bar.update(1)
        return sorted(paths)
    finally:
        if started:
            ray.shutdown()


EXECUTORS = ("local", "ray")
