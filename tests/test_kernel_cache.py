"""Cached kernels are dropped whenever any kernel source changes (Numba itself only checks a
function's own file, while its machine code includes the kernels it calls elsewhere); every
kernel that Python code calls keeps its entry wrapper; and read-only inputs reuse the kernels
compiled for writable ones."""

import ast
import gc
import glob
import importlib
import os
import types

import numba
import numpy as np

import circuitxbar as cx
from circuitxbar._config import drop_stale_caches
from numba_probes import compile_events, read_only


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


def test_a_change_of_compile_settings_drops_every_cache(tmp_path):
    # CIRCUITXBAR_LOOP_UNROLL changes the machine code of unchanged sources
    sources, caches, marker = _layout(tmp_path)
    drop_stale_caches(sources, marker, settings="tuned=True")
    for f in caches:
        f.write_text("recompiled")
    drop_stale_caches(sources, marker, settings="tuned=True")
    assert all(f.exists() for f in caches)
    drop_stale_caches(sources, marker, settings="tuned=False")
    assert not any(f.exists() for f in caches)


def _package_sources():
    """(module name, path) of every source file of circuitxbar and circuitxbar.devices."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(cx.__file__)))
    for folder, package in (("circuitxbar", "circuitxbar"), ("devices", "circuitxbar.devices")):
        for path in sorted(glob.glob(os.path.join(root, folder, "*.py"))):
            stem = os.path.splitext(os.path.basename(path))[0]
            yield (package if stem == "__init__" else f"{package}.{stem}"), path


def test_every_kernel_module_is_guarded():
    # a module with compiled code missing from the list would keep running stale machine code
    guarded = {os.path.realpath(p) for p in cx.kernel_sources()}
    for _name, path in _package_sources():
        with open(path) as fh:
            text = fh.read()
        if "@numba.njit" in text or "@intrinsic" in text:
            assert os.path.realpath(path) in guarded, f"{path} compiles kernels but is not guarded"


def _python_references(module):
    """(name, object) for every name or module attribute read by the module's plain Python code
    (module level and undecorated functions; the bodies of compiled kernels excluded)."""
    with open(module.__file__) as fh:
        tree = ast.parse(fh.read())
    compiled = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
                and any("njit" in ast.unparse(d) or "intrinsic" in ast.unparse(d)
                        for d in node.decorator_list)]
    skip = {id(n) for fn in compiled for n in ast.walk(fn)}
    # Shared(kernel, types) hands a kernel over to be called by address, never from Python
    skip |= {id(node.args[0]) for node in ast.walk(tree) if isinstance(node, ast.Call)
             and ast.unparse(node.func).endswith("Shared")}
    # kernel.py_func is the plain Python function: running it never enters compiled code
    skip |= {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)
             and node.attr == "py_func"}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Name) and node.id in vars(module):
            yield node.id, vars(module)[node.id]
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and isinstance(vars(module).get(node.value.id), types.ModuleType)):
            target = getattr(vars(module)[node.value.id], node.attr, None)
            yield f"{node.value.id}.{node.attr}", target


def test_kernels_called_from_python_keep_their_entry_wrapper():
    # INNER and SHARED kernels (_config) have no entry wrapper: calling one from Python
    # crashes the process, so no Python code in the package may reach one
    checked = 0
    for name, _path in _package_sources():
        if name == "circuitxbar.__main__":
            continue
        module = importlib.import_module(name)
        for ref, obj in _python_references(module):
            if isinstance(obj, numba.core.registry.CPUDispatcher):
                checked += 1
                assert not obj.targetoptions.get("no_cpython_wrapper"), (
                    f"{name} calls the kernel {ref} from Python, but it is compiled without an "
                    "entry wrapper (_config.INNER): give it **JIT")
    assert checked >= 15  # the solver, transfer matrix, factorisation and device entry points


def test_caches_under_numba_cache_dir_are_guarded_too(tmp_path, monkeypatch):
    # NUMBA_CACHE_DIR (or a read-only install's user-wide cache) moves the machine code away
    # from the sources; the stamp goes with it, so an edit still drops every kernel there
    from numba.core import config

    from circuitxbar._config import MARKER_NAME, numba_cache_dir

    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path / "numba_cache"))
    src = tmp_path / "src"
    src.mkdir()
    sources = [src / "_kernels.py", src / "_newton.py"]
    for f in sources:
        f.write_text("x = 1\n")
    cache_dir = numba_cache_dir(str(sources[0]))
    assert cache_dir.startswith(str(tmp_path / "numba_cache"))
    cached = os.path.join(cache_dir, "_newton.f-1.py311.nbi")
    with open(cached, "w") as fh:
        fh.write("machine code")
    drop_stale_caches(sources)  # first sight: drop and stamp, in the cache directory
    assert not os.path.exists(cached)
    assert os.path.exists(os.path.join(cache_dir, MARKER_NAME))
    assert not (src / "__pycache__").exists()
    with open(cached, "w") as fh:
        fh.write("recompiled")
    drop_stale_caches(sources)
    assert os.path.exists(cached)
    sources[0].write_text("x = 2\n")
    drop_stale_caches(sources)
    assert not os.path.exists(cached)


def test_the_guard_finds_the_directory_numba_caches_in():
    from circuitxbar import _direct, _newton
    from circuitxbar._config import numba_cache_dir

    for module, kernel in ((_direct, _direct.solve_chunk),
                           (_newton, _newton._solve_nonlinear_chunk)):
        assert numba_cache_dir(module.__file__) == kernel._cache._cache_path


def _signature_counts():
    from circuitxbar._precompile import cached_kernels
    return {k.py_func.__qualname__: len(k.signatures) for k in cached_kernels()}


def test_read_only_inputs_and_tables_reuse_the_compiled_kernels():
    # whether an array is writable is part of its Numba type: each path called again with a
    # read-only input (a memory-mapped file, a frozen array), and the Newton solver with a
    # tabulated model (its table is read-only) after a Sinh one and a 1S1R one, compiles
    # nothing new (the 1S1R solve compiles the device slope every model but sinh shares)
    from circuitxbar import devices

    rng = np.random.default_rng(3)
    g = rng.uniform(1e-5, 1e-4, (10, 12))
    v = rng.uniform(0.0, 0.2, (3, 10))
    linear = cx.Crossbar(g, 1.0, 1.0, r_sense=3.0)
    sinh = cx.Crossbar(g, 1.0, 1.0, device=devices.Sinh(k=5.0))
    tabulated = cx.Crossbar(g, 1.0, 1.0,
                            device=devices.Tabulated.from_csv(devices.example_csv_path()))
    calls = [lambda x: cx.solve(linear, x, method="cg"),
             lambda x: cx.factorize(linear).solve(x),
             lambda x: cx.solve(sinh, x)]
    for call in calls:
        call(v)
    cx.solve(cx.Crossbar(g, 1.0, 1.0, device=devices.OneSelectorOneResistor()), v)
    sinh.device.current(0.1, 1e-5)  # the device library's NumPy front, _eval_flat
    devices.ExponentialSelector(i0=1e-6, v0=0.1).current(np.linspace(-0.2, 0.2, 5))
    before = _signature_counts()
    results = [call(read_only(v)) for call in calls]
    # NumPy scalars for the tolerances and limits are other Numba types than float and int
    cx.solve(linear, v, method="cg", rtol=np.float32(1e-10), max_iter=np.int32(500))
    cx.solve(sinh, v, rtol=np.float32(1e-12), newton_tol=np.float32(1e-10),
             max_newton=np.int32(40))
    cx.solve(tabulated, 0.5 * v)
    tabulated.device.current(read_only([0.1, 0.2]), 1e-5)
    devices.ExponentialSelector(i0=1e-6, v0=0.1).current(read_only(np.linspace(-0.2, 0.2, 5)))
    assert _signature_counts() == before
    np.testing.assert_allclose(results[0].i_out, cx.solve(linear, v, method="cg").i_out)


def _numba_markup(env_value):
    """What Numba's error-message scheme makes of "x" in a fresh process importing circuitxbar
    first; env_value None leaves the variable unset."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_ERROR_MESSAGE_HIGHLIGHTING"}
    if env_value is not None:
        env["NUMBA_DISABLE_ERROR_MESSAGE_HIGHLIGHTING"] = env_value
    code = ("import circuitxbar, numba.core.errors as e; "
            "print(repr(e.termcolor().errmsg('x')))")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                         text=True, timeout=120)
    return out.stdout.strip()


def test_numba_builds_plain_messages_while_compiling_unless_the_user_chose():
    # unset: circuitxbar switches the highlighting off (1.0 s of the whole solver's compile)
    assert _numba_markup(None) == repr("x")
    # an empty value keeps Numba's highlighting (terminal escape codes around the message)
    assert "\\x1b[" in _numba_markup("")


def _compile_and_watch(*funcs):
    """Compile each function (numba.njit, called on 1.0) and return, per compile event in
    order, (function name, collector on during it), as a listener registered after
    circuitxbar's sees it; a compile that fails is recorded all the same."""
    def compile_each():
        for f in funcs:
            try:
                numba.njit(f)(1.0)
            except numba.core.errors.TypingError:
                pass

    return compile_events(
        compile_each, lambda ev: (ev.data["dispatcher"].py_func.__name__, gc.isenabled()))


def _as_circuitxbar(f):
    f.__module__ = "circuitxbar._probe"  # what the pause looks at: the function's package
    return f


def test_the_collector_pauses_while_a_circuitxbar_kernel_compiles(monkeypatch):
    from circuitxbar import _config

    inner = numba.njit(_as_circuitxbar(lambda x: x * 3.0))

    @_as_circuitxbar
    def ours(x):
        return inner(x) + 1.0

    @_as_circuitxbar
    def broken(x):
        return x.no_such_attribute  # a typing error: the compile raises

    def theirs(x):
        return x + 2.0

    def nameless(x):
        return x + 3.0

    nameless.__module__ = None  # (a function may have no module: no error, no pause)

    assert gc.isenabled()
    seen = _compile_and_watch(ours, broken, theirs, nameless)
    # paused for circuitxbar's kernel and the kernel it calls, and for the failing compile;
    # other functions compile with the collector on
    assert [name for name, _on in seen] == ["ours", "<lambda>", "broken", "theirs", "nameless"]
    assert [on for _name, on in seen] == [False, False, False, True, True]
    assert gc.isenabled()  # back on after each, the failed compile included

    # a collector the user switched off stays off
    gc.disable()
    try:
        _compile_and_watch(_as_circuitxbar(lambda x: x - 1.0))
        assert not gc.isenabled()
    finally:
        gc.enable()

    # CIRCUITXBAR_COMPILE_GC=1 (read at import into this flag) keeps it collecting
    monkeypatch.setattr(_config, "PAUSE_GC_WHILE_COMPILING", False)
    assert _compile_and_watch(_as_circuitxbar(lambda x: x - 2.0)) == [("<lambda>", True)]
