"""The properties every registry entry must have, attack or defense alike."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Optional

from ..core.config import load_tier
from ..core.store import canonical_json
from ..runner import Options, run_cell
from .context import CheckContext


def constructible_from_defaults(ctx: CheckContext) -> Optional[str]:
    ctx.create()
    return None


def parameters_serialisable(ctx: CheckContext) -> Optional[str]:
    params = ctx.create().params()
    again = ctx.create(**json.loads(json.dumps(params)))
    assert canonical_json(again.params()) == canonical_json(params), f"params() does not rebuild the same {ctx.kind}"
    return None


def smoke_tier_within_budget(ctx: CheckContext) -> Optional[str]:
    """A whole smoke-tier cell — this defense against PoisonedEncoder, or this attack undefended —
    writes a record naming the entry, within the budget."""
    if not ctx.smoke:
        return "smoke tier skipped (--fast)"
    attack, defense = (ctx.name, "none") if ctx.kind == "attack" else ("poisoned_encoder", ctx.name)
    with tempfile.TemporaryDirectory() as tmp:
        opts = Options(None, None, Path(tmp) / "cache", Path(tmp) / "results", "cpu", False)
        start = time.perf_counter()
        path = run_cell(load_tier("smoke"), attack, defense, 0, opts, log=lambda *_: None)
        took = time.perf_counter() - start
        assert json.loads(path.read_text())[ctx.kind] == ctx.name, f"record names another {ctx.kind}"
    assert took <= ctx.budget_seconds, f"smoke tier took {took:.0f} s > budget {ctx.budget_seconds:.0f} s"
    return None
