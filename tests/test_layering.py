"""The layering the code promises, checked on the import graph (static, from the source) and at run
time: a torch-free core that nothing below it leaks into, attacks and defenses that import only the
core and the SSL code, and no cycle between the core, attacks, defenses and the leaderboard."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmark", "attacks", "defenses", "leaderboard")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path):
    """Project modules ``path`` imports, anywhere in the file, resolved to absolute names."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] in PACKAGES)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] in PACKAGES:
                yield target


def _layer(module: str) -> str:
    if module.startswith("benchmark.core"):
        return "core"
    if module.startswith("benchmark.ssl"):
        return "ssl"
    return module.split(".")[0]


def _graph():
    edges = set()
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            src = _layer(_module_name(path))
            edges |= {(src, _layer(t)) for t in _imports(path) if _layer(t) != src}
    return edges


def test_the_core_imports_nothing_outside_itself():
    assert {dst for src, dst in _graph() if src == "core"} == set()


def test_attacks_and_defenses_import_only_the_core_and_the_ssl_code():
    for layer in ("attacks", "defenses"):
        assert {dst for src, dst in _graph() if src == layer} <= {"core", "ssl"}, layer


def test_the_leaderboard_depends_on_the_core_alone():
    assert {dst for src, dst in _graph() if src == "leaderboard"} == {"core"}


def test_no_cycle_between_core_attacks_defenses_and_leaderboard():
    nodes = {"core", "attacks", "defenses", "leaderboard"}
    edges = {(a, b) for a, b in _graph() if a in nodes and b in nodes}
    reach = {n: {b for a, b in edges if a == n} for n in nodes}
    for _ in nodes:  # transitive closure
        reach = {n: r | {c for m in r for c in reach[m]} for n, r in reach.items()}
    assert not [n for n in nodes if n in reach[n]]


@pytest.mark.parametrize("module", sorted(_module_name(p) for p in (ROOT / "benchmark" / "core").glob("*.py")))
def test_a_core_module_imports_no_torch_attack_defense_or_plugin(module):
    code = (f"import sys, {module}; "
            "print(sorted(m for m in ('torch', 'attacks', 'defenses', 'leaderboard', 'benchmark.plugins') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
