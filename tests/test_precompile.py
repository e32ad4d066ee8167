"""``circuitxbar.precompile``: every kernel compiled into the disk cache by two processes, so a
later process compiles nothing; a worker that fails or hangs costs time, never a kernel."""

import json
import os
import subprocess
import sys
import time

import pytest

import circuitxbar as cx
from circuitxbar import _config, _precompile
from circuitxbar.cli import main
from circuitxbar.errors import ValidationError

# a fresh process on a given disk cache: precompile (or not), then run every path and count
# the cached kernels' cache hits and misses (a miss is a compile)
_PROCESS = """
import json, sys, warnings
warnings.simplefilter("error", RuntimeWarning)  # a failed worker must fail the test
import circuitxbar as cx
from circuitxbar import _precompile as P
seconds = cx.precompile(jobs=2) if sys.argv[1] == "precompile" else {}
warm = P.cache_is_warm()
P._run_paths(P.PATHS)
kernels = P.cached_kernels()
print(json.dumps({"seconds": seconds, "warm": warm, "n_kernels": len(kernels),
                  "hits": sum(sum(k.stats.cache_hits.values()) for k in kernels),
                  "misses": sum(sum(k.stats.cache_misses.values()) for k in kernels)}))
"""


def _process(cache_dir, mode):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    env.pop("CIRCUITXBAR_NO_CACHE", None)
    out = subprocess.run([sys.executable, "-c", _PROCESS, mode], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_precompile_leaves_nothing_for_a_later_process_to_compile(tmp_path):
    cold = _process(tmp_path, "precompile")
    assert set(cold["seconds"]) == set(_precompile.PATHS)
    assert all(s > 0 for s in cold["seconds"].values())
    assert cold["warm"] and cold["n_kernels"] >= 10
    # the worker's kernels reached this process through the cache
    assert cold["hits"] > 0
    later = _process(tmp_path, "run")
    assert later["warm"]
    assert later["misses"] == 0 and later["hits"] >= 10


def test_without_precompile_a_fresh_cache_is_cold(tmp_path):
    # the check the test above relies on can fail: an empty cache is not warm
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    env.pop("CIRCUITXBAR_NO_CACHE", None)
    out = subprocess.run([sys.executable, "-c", "from circuitxbar import _precompile as P; "
                          "print(P.cache_is_warm(), len(P.cached_kernels()))"],
                         env=env, check=True, capture_output=True, text=True).stdout.split()
    assert out[0] == "False" and int(out[1]) >= 10


@pytest.fixture
def cold_cache(monkeypatch):
    """This process as if its disk cache were empty (its kernels are compiled or cached
    already, so the fallbacks below cost little)."""
    monkeypatch.setattr(_config, "CACHE", True)
    monkeypatch.setattr(_precompile, "cache_is_warm", lambda: False)


@pytest.mark.parametrize("worker, message", [
    ("import sys; sys.exit(3)", "exited with status 3"),
    ("print('no timings here')", "printed no timings"),
])
def test_a_failed_worker_is_reported_and_its_paths_compile_here(cold_cache, monkeypatch,
                                                                 worker, message):
    monkeypatch.setattr(_precompile, "_WORKER", worker)
    with pytest.warns(RuntimeWarning, match=message):
        seconds = cx.precompile(jobs=2)
    assert list(seconds) == list(_precompile.PATHS)


def test_a_talkative_worker_never_waits_for_this_process(cold_cache, monkeypatch, tmp_path):
    # the worker says 256 KB on stderr (four pipe buffers) before it finishes; this process
    # reads nothing until its own half is compiled, so the worker's output must not need a
    # reader: here this process's half waits for the worker to have finished
    done = tmp_path / "worker_done"
    timings = json.dumps({p: 0.5 for p in _precompile.GROUPS[1]})
    worker = (f"import sys, pathlib; sys.stderr.write('x' * 2**18); sys.stderr.flush(); "
              f"pathlib.Path({str(done)!r}).touch(); print({timings!r})")
    monkeypatch.setattr(_precompile, "_WORKER", worker)
    real_run_paths = _precompile._run_paths
    finished_first = []

    def here_waits_for_the_worker(paths):
        if paths == _precompile.GROUPS[0]:
            deadline = time.monotonic() + 30.0
            while not done.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            finished_first.append(done.exists())
        return real_run_paths(paths)

    monkeypatch.setattr(_precompile, "_run_paths", here_waits_for_the_worker)
    seconds = cx.precompile(jobs=2)
    assert finished_first == [True]
    assert [seconds[p] for p in _precompile.GROUPS[1]] == [0.5] * len(_precompile.GROUPS[1])


def test_a_hung_worker_is_killed_after_the_timeout(cold_cache, monkeypatch):
    started = []
    popen = subprocess.Popen

    def spy(*args, **kw):
        started.append(popen(*args, **kw))
        return started[-1]

    monkeypatch.setattr(_precompile, "_WORKER", "import time; time.sleep(60)")
    monkeypatch.setattr(_precompile.subprocess, "Popen", spy)
    with pytest.warns(RuntimeWarning, match="did not finish within timeout=0.5 s"):
        seconds = cx.precompile(jobs=2, timeout=0.5)
    assert list(seconds) == list(_precompile.PATHS)
    assert len(started) == 1 and started[0].returncode is not None  # killed and reaped


def test_no_interpreter_to_start_compiles_here(cold_cache, monkeypatch):
    monkeypatch.setattr(_precompile.sys, "executable", "/nonexistent/python")
    with pytest.warns(RuntimeWarning, match="could not start a worker process"):
        assert list(cx.precompile(jobs=2)) == list(_precompile.PATHS)


def test_one_job_or_no_disk_cache_compiles_in_this_process(cold_cache, monkeypatch):
    def no_subprocess(*args, **kw):
        raise AssertionError("precompile started a process")

    monkeypatch.setattr(_precompile.subprocess, "Popen", no_subprocess)
    assert list(cx.precompile(jobs=1)) == list(_precompile.PATHS)
    monkeypatch.setattr(_config, "CACHE", False)
    assert list(cx.precompile(jobs=2)) == list(_precompile.PATHS)


@pytest.mark.parametrize("jobs", [0, -1, 1.5, "2", True])
def test_bad_jobs_is_a_clear_error(jobs):
    with pytest.raises(ValidationError, match=f"jobs must be a whole number >= 1.*{jobs!r}"):
        cx.precompile(jobs=jobs)


def test_bad_timeout_is_a_clear_error():
    with pytest.raises(ValidationError, match="timeout must be a positive number"):
        cx.precompile(jobs=1, timeout=0)


def test_command(capsys):
    assert main(["precompile", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("circuitxbar precompile: linear ")
    assert all(f"{p} " in out for p in _precompile.PATHS)
