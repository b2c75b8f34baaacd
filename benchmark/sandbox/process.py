"""The harness's end of a plugin's child process: start, ask with a budget, serve, kill.

One child per plugin (``python -m benchmark.sandbox.child``, a fresh interpreter: no harness
memory, no argv, a temporary working directory, an environment without the harness's settings).
Each request has a wall-clock budget counted while the *child* works — the time the harness
spends serving the child's own requests (training an encoder) is not the plugin's — and a child
that overruns it, exits, crashes or is killed is a one-line :class:`BenchmarkError`; the next
request starts a fresh child.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from ..core.errors import BenchmarkError
from . import codec, wire

ROOT = Path(__file__).resolve().parents[2]
Serve = Callable[[Dict[str, Any], codec.Arrays], Tuple[Dict[str, Any], codec.Arrays]]
# Variables a plugin's interpreter may inherit: finding Python and its packages, threads, locale.
ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "CL_POISONBENCH_PLUGIN_THREADS", "VIRTUAL_ENV")


def _no_service(msg, arrays):
    raise BenchmarkError(f"the plugin asked for {msg.get('op')!r} outside a hook call")


class PluginProcess:
    def __init__(self, kind: str, source: Dict[str, str], label: str):
        self.kind, self.source, self.label = kind, dict(source), label
        self.proc: Optional[subprocess.Popen] = None
        self.generation = 0          # bumped per start: instances of a killed child are gone
        self.info: Dict[str, Any] = {}

    def start(self, budget: float = 300) -> Dict[str, Any]:
        """Start the child and load the plugin in it; its description (stage, parameters, ...)."""
        env = {k: os.environ[k] for k in ENV_KEEP if k in os.environ}
        # The harness's own checkout first, then the packages it sees (absolute: the child runs elsewhere).
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *(os.path.abspath(p) for p in sys.path if p)])
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmark.sandbox.child"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, bufsize=0, env=env, cwd=tempfile.gettempdir())
        self.generation += 1
        reply, _ = self.request({"op": "load", "kind": self.kind, "source": self.source}, {}, budget, "loading")
        self.info = reply["info"]
        return self.info

    def ensure(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.start()

    def request(self, header: Dict[str, Any], arrays: codec.Arrays, budget: float, what: str,
                serve: Serve = _no_service) -> Tuple[Dict[str, Any], codec.Arrays]:
        """Send one request and wait for its answer, serving the child's requests meanwhile."""
        try:
            wire.send(self.proc.stdin, header, arrays)
            return self._wait(budget, what, serve)
        except _PluginError:  # the plugin raised: its process is fine and keeps serving
            raise
        except BaseException as exc:  # an overrun, a dead child, or the caller's own deadline: the child goes
            self.kill()
            if isinstance(exc, (BrokenPipeError, wire.ChannelClosed)):
                raise BenchmarkError(f"plugin '{self.label}': its process ended during {what} "
                                     f"({self._ended()})") from exc
            raise

    def _wait(self, budget: float, what: str, serve: Serve):
        used = 0.0
        while True:
            start = time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, budget - used))
            used += time.monotonic() - start
            if not ready:
                raise BenchmarkError(f"plugin '{self.label}': {what} exceeded its {budget:g} s budget and was stopped")
            msg, got = wire.receive(self.proc.stdout)
            if "op" not in msg:
                if "error" in msg:
                    raise _PluginError(f"plugin '{self.label}' in {what}: {msg['error']}", str(msg["error"]))
                return msg, got
            try:
                reply, out = serve(msg, got)
            except BenchmarkError as exc:   # refused (the clean encoder, a bad config): the plugin sees why
                reply, out = {"error": str(exc)}, {}
            wire.send(self.proc.stdin, reply, out)

    def _ended(self) -> str:
        code = self.proc.wait(timeout=10) if self.proc is not None else None
        return f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                wire.send(self.proc.stdin, {"op": "close"}, {})
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()


class _PluginError(BenchmarkError):
    """The plugin raised (the child is fine and keeps serving); ``reason`` is the child's own line."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason
