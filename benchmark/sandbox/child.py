"""The child process a submitted plugin runs in: ``python -m benchmark.sandbox.child`` (spawned by
:mod:`benchmark.sandbox.process`, never forked — it holds none of the harness's memory).

It reads requests from stdin and answers on what was stdout (the plugin's own prints go to
stderr): ``load`` a submission folder or entry point, ``create`` an instance with parameters,
``call`` one of its hooks. While a hook runs, the plugin's trainer asks the harness to train
(``train``) and for an encoder's weights (``weights``): the harness trains, caches and counts,
and keeps every encoder; the child rebuilds a module from the weights it is sent. It is given no
argv, no results or cache directory and no seed — only what the hook's arguments carry.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Dict, List, Optional

import numpy as np
import torch

from attacks.base import AttackContext
from defenses.base import HOOK_STAGES, Defense
from ..core.errors import BenchmarkError
from ..core.settings import PretrainConfig
from ..plugins import KINDS, check_readme
from ..ssl.simclr import SimCLRModel, build_encoder
from . import codec, landlock, wire
from .process import ROOT


# The repository's packages a plugin may import; the root itself is not readable (results/, caches).
CODE_PACKAGES = ("benchmark", "attacks", "defenses")


class Channel:
    """The child's end: requests in, replies out; a nested request (train, weights) waits for its answer."""

    def __init__(self, inp: BinaryIO, out: BinaryIO):
        self.inp, self.out = inp, out

    def ask(self, header: Dict[str, Any], arrays: codec.Arrays):
        wire.send(self.out, header, arrays)
        reply, got = wire.receive(self.inp)
        if "error" in reply:
            raise BenchmarkError(str(reply["error"]))
        return reply, got


class RemoteEncoder:
    """An encoder the harness trained for this plugin: its key, config and cost; the module is
    rebuilt from weights on first use."""

    def __init__(self, channel: Channel, key: str, cfg: PretrainConfig, image_passes: int, epochs: List[int]):
        self.channel, self.key, self.cfg, self.image_passes = channel, key, cfg, image_passes
        self.epoch_checkpoints = {int(e): None for e in epochs}
        self._modules: Dict[Optional[int], torch.nn.Module] = {}

    def _module(self, epoch: Optional[int]) -> torch.nn.Module:
        if epoch not in self._modules:
            _, state = self.channel.ask({"op": "weights", "key": self.key, "epoch": epoch}, {})
            module = codec.load_weights(build_encoder(self.cfg), state)
            module.sandbox_handle = {"key": self.key, "epoch": epoch}
            self._modules[epoch] = module.eval()
        return self._modules[epoch]

    @property
    def encoder(self) -> torch.nn.Module:
        return self._module(None)

    def at_epoch(self, epoch: int) -> torch.nn.Module:
        return self._module(None if epoch == self.cfg.epochs else int(epoch))


def remote_surrogate(channel: Channel) -> SimCLRModel:
    """The clean surrogate an optimising attack may use, rebuilt from the weights the harness sends."""
    reply, state = channel.ask({"op": "surrogate"}, {})
    return codec.load_weights(SimCLRModel(build_encoder(PretrainConfig.from_dict(reply["cfg"]))), state)


class RemoteTrainer:
    """The trainer a plugin's hooks get: every request goes to the harness."""

    def __init__(self, channel: Channel, base_pretrain: PretrainConfig):
        self.channel, self.base_pretrain = channel, base_pretrain
        self.encoders: Dict[str, RemoteEncoder] = {}

    def train(self, images: np.ndarray, pretrain: PretrainConfig, *, init=None, label: str = "defense",
              seed_offset: int = 0) -> RemoteEncoder:
        arrays: codec.Arrays = {}
        args = codec.pack({"images": np.asarray(images), "pretrain": pretrain, "init": init, "label": str(label),
                           "seed_offset": int(seed_offset)}, arrays, self.handle_of)
        reply, _ = self.channel.ask({"op": "train", "args": args}, arrays)
        return self.adopt(reply["encoder"])

    def adopt(self, info: Dict[str, Any]) -> RemoteEncoder:
        key = str(info["key"])
        if key not in self.encoders:
            self.encoders[key] = RemoteEncoder(self.channel, key, PretrainConfig.from_dict(info["cfg"]),
                                               int(info["image_passes"]), list(info["epochs"]))
        return self.encoders[key]

    def handle_of(self, obj: Any) -> Optional[Dict[str, Any]]:
        if isinstance(obj, RemoteEncoder):
            return {"key": obj.key, "epoch": None}
        return getattr(obj, "sandbox_handle", None) if isinstance(obj, torch.nn.Module) else None


def load_class(kind: str, source: Dict[str, str]) -> type:
    """The plugin's class: a submission folder's module (which must register exactly its folder's
    name) or an installed entry point's object."""
    spec = KINDS[kind]
    if "entry_point" in source:
        module_name, _, attr = source["entry_point"].partition(":")
        obj = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        if not (isinstance(obj, type) and issubclass(obj, spec.base)):
            raise BenchmarkError(f"entry point {source['entry_point']} is not a {spec.base.__name__} subclass")
        return obj
    folder = Path(source["folder"]).resolve()
    name = folder.name
    check_readme(folder)
    before = set(spec.registry.names())
    module_spec = importlib.util.spec_from_file_location(f"cl_poisonbench_submissions.{kind}.{name}",
                                                         folder / spec.filename)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module
    module_spec.loader.exec_module(module)
    added = set(spec.registry.names()) - before
    if added != {name}:
        raise BenchmarkError(f"must register exactly the {kind} '{name}', registered {sorted(added) or 'nothing'}")
    return spec.registry.get(name)


def describe(cls: type) -> Dict[str, Any]:
    """What the harness needs to register the plugin without importing it."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return {"stage": getattr(cls, "stage", "none"), "version": str(getattr(cls, "version", "")),
            "needs_surrogate": bool(getattr(cls, "needs_surrogate", False)), "kind": str(getattr(cls, "kind", "")),
            "threat": str(getattr(cls, "threat", "data")), "cache_poisons": bool(getattr(cls, "cache_poisons", False)),
            "authors": str(getattr(cls, "authors", "")),
            "params": [[p.name, p.default if p.default is not inspect.Parameter.empty else None]
                       for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)],
            "overridden": [h for h in HOOK_STAGES if getattr(cls, h, None) is not getattr(Defense, h)],
            "source": _source_of(cls)}


def _source_of(cls: type) -> str:
    """The text of the plugin's module, for the conformance suite's scan of what it refers to."""
    try:
        return inspect.getsource(inspect.getmodule(cls))
    except (OSError, TypeError):
        return ""


def confine(source: Dict[str, str]) -> str:
    """Before the plugin's first line runs, limit what this process can open (Landlock): code, the
    plugin's folder and the working directory. Where the kernel lacks Landlock the child runs
    unconfined and says so (the description is shown by ``benchmark.check``)."""
    folder = [str(Path(source["folder"]).resolve())] if "folder" in source else []
    work = os.getcwd()
    try:
        described = landlock.confine(landlock.code_paths(sys.path, ROOT, CODE_PACKAGES) + folder, [work])
    except OSError as exc:
        return f"process only (no Landlock: {exc.strerror})"
    os.environ["TMPDIR"] = tempfile.tempdir = work     # scratch files go where the plugin may write
    return described


def digest(arrays: codec.Arrays) -> str:
    h = hashlib.sha1()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()


class Worker:
    """The plugin's instances and their trainers, and the requests that reach them."""

    def __init__(self, channel: Channel):
        self.channel, self.cls = channel, None
        self.instances: Dict[int, Any] = {}
        self.trainers: Dict[int, RemoteTrainer] = {}

    def load(self, msg, arrays):
        source = dict(msg["source"])
        isolation = confine(source)
        self.cls = load_class(str(msg["kind"]), source)
        return {"info": {**describe(self.cls), "isolation": isolation}}, {}

    def create(self, msg, arrays):
        inst = self.cls(**dict(msg["params"]))
        self.instances[int(msg["id"])] = inst
        return {"params": inst.params()}, {}

    def call(self, msg, arrays):
        iid = int(msg["id"])
        inst = self.instances[iid]
        base = codec.unpack(msg["base_pretrain"], arrays, lambda h: None)
        trainer = self.trainers.setdefault(iid, RemoteTrainer(self.channel, base))

        def from_handle(h):
            enc = trainer.adopt(h)
            return enc if h.get("epoch") is None else enc.at_epoch(int(h["epoch"]))
        args = codec.unpack(msg["args"], arrays, from_handle)
        if msg.get("trainer_at") is not None:
            args.insert(int(msg["trainer_at"]), trainer)
        if msg.get("context_at") is not None:  # an attack's context: the surrogate comes from the harness
            args.insert(int(msg["context_at"]), AttackContext(surrogate=lambda: remote_surrogate(self.channel)))
        before = digest(arrays)
        result = getattr(inst, str(msg["hook"]))(*args)
        out: codec.Arrays = {}
        reply = {"result": codec.pack(result, out, trainer.handle_of), "mutated": digest(arrays) != before,
                 "rng": [[i, a.bit_generator.state] for i, a in enumerate(args) if isinstance(a, np.random.Generator)]}
        return reply, out

    def serve(self) -> None:
        ops = {"load": self.load, "create": self.create, "call": self.call}
        while True:
            try:
                msg, arrays = wire.receive(self.channel.inp)
            except wire.ChannelClosed:
                return
            if msg.get("op") == "close":
                return
            try:
                reply, out = ops[str(msg.get("op"))](msg, arrays)
                json.dumps(reply)  # a plugin's params() or result that JSON cannot carry fails here, in one line
            except SystemExit as exc:
                reply, out = {"error": f"SystemExit: called exit({exc.code!r})"}, {}
            except BaseException as exc:  # anything the plugin raises is that request's one-line error
                reply, out = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:2000]}, {}
            wire.send(self.channel.out, reply, out)


def main() -> None:
    out = os.fdopen(os.dup(1), "wb")       # the protocol keeps the real stdout ...
    os.dup2(2, 1)                           # ... and the plugin's prints go to stderr
    sys.stdout = sys.stderr
    inp = sys.stdin.buffer
    sys.stdin = open(os.devnull)
    sys.argv = [sys.argv[0]]
    os.environ["JOBLIB_MULTIPROCESSING"] = "0"   # its semaphores need /dev/shm, which a confined child cannot open
    os.chdir(tempfile.mkdtemp(prefix="cl-poisonbench-plugin-"))
    torch.set_num_threads(int(os.environ.get("CL_POISONBENCH_PLUGIN_THREADS", torch.get_num_threads())))
    Worker(Channel(inp, out)).serve()


if __name__ == "__main__":
    main()
