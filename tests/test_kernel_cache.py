"""Cached kernels are dropped whenever any kernel source changes (Numba itself only checks a
function's own file, while its machine code includes the kernels it calls elsewhere)."""

import glob
import os

import circuitxbar
from circuitxbar._config import drop_stale_caches


def _layout(tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    for d in (a, b):
        (d / "__pycache__").mkdir(parents=True)
    (a / "_kernels.py").write_text("x = 1\n")
    (b / "kernels.py").write_text("y = 2\n")
    caches = [a / "__pycache__" / "_kernels.f-1.py311.nbi", b / "__pycache__" / "kernels.g-2.nbc"]
    for f in caches:
        f.write_text("machine code")
    return [a / "_kernels.py", b / "kernels.py"], caches, tmp_path / "marker"


def test_caches_survive_while_sources_are_unchanged(tmp_path):
    sources, caches, marker = _layout(tmp_path)
    drop_stale_caches(sources, marker)  # first sight: no marker yet, so drop and stamp
    for f in caches:
        f.write_text("recompiled")
    drop_stale_caches(sources, marker)
    assert all(f.exists() for f in caches)


def test_an_edit_to_any_kernel_source_drops_every_cache(tmp_path):
    sources, caches, marker = _layout(tmp_path)
    drop_stale_caches(sources, marker)
    for f in caches:
        f.write_text("recompiled")
    sources[1].write_text("y = 3\n")  # edit the callee's module only
    drop_stale_caches(sources, marker)
    assert not any(f.exists() for f in caches)


def test_every_kernel_module_is_guarded():
    # a module with compiled code missing from the list would keep running stale machine code
    root = os.path.dirname(os.path.dirname(os.path.abspath(circuitxbar.__file__)))
    guarded = {os.path.realpath(p) for p in circuitxbar.kernel_sources()}
    for path in glob.glob(os.path.join(root, "circuitxbar", "*.py")) + glob.glob(
            os.path.join(root, "devices", "*.py")):
        with open(path) as fh:
            text = fh.read()
        if "@numba.njit" in text or "@intrinsic" in text:
            assert os.path.realpath(path) in guarded, f"{path} compiles kernels but is not guarded"
