"""Run a benchmark script again as a child process and read the JSON its last stdout line holds.

Benchmarks that compare settings a process cannot undo (thread counts, patched functions, a heap
already grown) run each setting in a fresh interpreter; the project root goes on its PYTHONPATH so
the child imports this checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, List

ROOT = Path(__file__).resolve().parents[1]


def run_json_child(script: str, argv: List[str]) -> Any:
    """``python script *argv`` from the project root; the JSON of its last stdout line."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, script, *argv], check=True, capture_output=True, text=True,
                         cwd=ROOT, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])
