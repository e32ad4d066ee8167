"""The background compile (circuitxbar/_background.py): the first solver call of a process with
a cold disk cache starts a worker that compiles the other paths; claims decide who compiles
what; nothing about it can fail a solve."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from circuitxbar import _background as B
from circuitxbar import _precompile

# a fresh process with the given cache: the whole solver's first calls in the benchmark's order,
# then the worker's end; what it did, from the claims directory, and whether the cache is warm
_WHOLE = """
import json, os
from circuitxbar import _background as B, _precompile as P
seconds = P._run_paths(("linear", "transfer", "newton", "factorised"))
proc, claims = B._state["proc"], B._state["claims"]
status = proc.wait() if proc is not None else None
done = sorted(f[:-5] for f in os.listdir(claims) if f.endswith(".done")) if claims else []
print(json.dumps({"status": status, "done": done, "why_not": B._state["why_not"],
                  "warm": P.cache_is_warm()}))
"""


def _fresh(cache_dir, code, **env):
    base = {k: v for k, v in os.environ.items()
            if k not in ("CIRCUITXBAR_NO_CACHE", B.SWITCH, "NUMBA_NUM_THREADS")}
    base.update(NUMBA_CACHE_DIR=str(cache_dir), **env)
    out = subprocess.run([sys.executable, "-c", code], env=base, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: no worker (one solver thread)")
def test_the_worker_compiles_the_paths_this_process_has_not_reached(tmp_path):
    got = _fresh(tmp_path, _WHOLE)
    assert got["why_not"] is None and got["status"] == 0
    # this process claimed linear (its first call), and transfer unless the worker got there
    # first; the worker took Newton's own kernels and factorised (first in ORDER: they share
    # the least code with the linear solve) and what was left, the device library after them
    assert {"newton", "factorised"} <= set(got["done"]) and "linear" not in got["done"]
    assert set(got["done"]) <= {"transfer", "factorised", "newton", "devices"}
    assert got["warm"]
    # and a later process finds every kernel cached: it starts no worker
    later = _fresh(tmp_path, _WHOLE)
    assert later["status"] is None and later["done"] == []
    assert later["why_not"] == "the disk cache already holds every kernel"


def test_switched_off_or_without_the_disk_cache_no_worker_starts(tmp_path):
    code = ("import json, numpy as np, circuitxbar as cx; from circuitxbar import _background as B;"
            "cx.solve(cx.Crossbar(np.full((4, 4), 1e-5), 1.0, 1.0), np.full(4, 0.1));"
            "print(json.dumps({'proc': B._state['proc'] is not None, "
            "'why_not': B._state['why_not']}))")
    # (one cache for the three: the first compiles the linear path, the others load it, and
    # each reason is checked before whether the cache is warm)
    off = _fresh(tmp_path, code, **{B.SWITCH: "0"})
    assert not off["proc"] and B.SWITCH in off["why_not"]
    no_cache = _fresh(tmp_path, code, CIRCUITXBAR_NO_CACHE="1")
    assert not no_cache["proc"] and "CIRCUITXBAR_NO_CACHE" in no_cache["why_not"]
    one_thread = _fresh(tmp_path, code, NUMBA_NUM_THREADS="1")
    assert not one_thread["proc"] and "NUMBA_NUM_THREADS" in one_thread["why_not"]


class _FakeWorker:
    def __init__(self):
        self.status = None

    def poll(self):
        return self.status


@pytest.fixture
def fresh_state(monkeypatch, tmp_path):
    """This process's background state, reset (the real one may hold a worker of the test
    session), with a fake worker and a claims directory."""
    claims = tmp_path / "claims"
    claims.mkdir()
    worker = _FakeWorker()
    monkeypatch.setattr(B, "_state", {"decided": True, "proc": worker, "claims": str(claims),
                                      "pid": os.getpid(), "why_not": None})
    monkeypatch.setattr(B, "_seen", set())
    return worker, claims


def test_the_worker_takes_every_other_path_those_sharing_least_first():
    for path in _precompile.PATHS:
        order = B.worker_order(path)
        assert sorted(order) == sorted(p for p in _precompile.PATHS if p != path)
    # after the linear solve: Newton's own kernels (they compile without the linear solve's),
    # then the factorised solve (the transfer matrix's check is a linear solve); after Newton:
    # the factorised solve; after the factorised solve: the linear solve (the transfer matrix
    # shares the factorised solve's kernels); after the transfer matrix: the linear solve,
    # which its check compiles last
    assert B.worker_order("linear")[:2] == ("newton", "factorised")
    assert B.worker_order("newton")[0] == "factorised"
    assert B.worker_order("factorised")[:2] == ("linear", "newton")
    assert B.worker_order("transfer")[:2] == ("linear", "factorised")


def test_a_path_is_claimed_once(tmp_path):
    assert B._claim(str(tmp_path), "transfer")
    assert not B._claim(str(tmp_path), "transfer")
    assert B._claim(str(tmp_path), "newton")


def test_a_path_nobody_claimed_is_compiled_here_at_once(fresh_state):
    worker, claims = fresh_state
    t0 = time.perf_counter()
    B.before("newton")
    assert time.perf_counter() - t0 < 5.0  # (no wait: the claim is this process's)
    assert (claims / "newton").exists() and "newton" in B._seen
    # and the worker, coming to it later, finds it taken
    assert not B._claim(str(claims), "newton")


def test_a_path_the_worker_holds_is_waited_for(fresh_state):
    worker, claims = fresh_state
    assert B._claim(str(claims), "transfer")  # the worker's claim
    finish = threading.Timer(0.3, lambda: (claims / "transfer.done").touch())
    finish.start()
    t0 = time.perf_counter()
    B.before("transfer")
    waited = time.perf_counter() - t0
    finish.join()
    assert waited >= 0.25 and (claims / "transfer.done").exists()
    assert "transfer" in B._seen


def test_a_worker_that_died_is_not_waited_for(fresh_state, monkeypatch):
    worker, claims = fresh_state
    assert B._claim(str(claims), "factorised")
    worker.status = 1  # exited without finishing it: this process compiles it
    monkeypatch.setattr(B, "WAIT_LIMIT_S", 60.0)
    t0 = time.perf_counter()
    B.before("factorised")
    assert time.perf_counter() - t0 < 5.0


def test_nothing_here_can_fail_a_solve(monkeypatch):
    monkeypatch.setattr(B, "_state", {"decided": False, "proc": None, "claims": None,
                                      "pid": None, "why_not": None})
    monkeypatch.setattr(B, "_seen", set())

    def broken(path):
        raise OSError("no process table left")

    monkeypatch.setattr(B, "_start", broken)
    B.before("linear")  # no exception
    assert "no process table left" in B._state["why_not"] and B._state["proc"] is None


def test_a_second_worker_on_the_same_cache_gives_way(tmp_path):
    lock = tmp_path / B.LOCK_NAME
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)",
         str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        claims = tmp_path / "claims"
        claims.mkdir()
        assert not B._lock_is_free(str(lock))  # a parent would not start this worker at all
        assert B._worker(str(claims), str(lock), ["transfer"]) == 3
        assert os.listdir(claims) == []  # it claimed nothing: the parent compiles it all
    finally:
        holder.kill()
        holder.wait()
    # with the lock free, a worker with nothing left to claim finishes at once
    assert B._lock_is_free(str(lock))
    assert B._claim(str(claims), "transfer")
    assert B._worker(str(claims), str(lock), ["transfer"]) == 0


def test_precompile_starts_no_background_worker(monkeypatch):
    monkeypatch.setattr(B, "_state", {"decided": False, "proc": None, "claims": None,
                                      "pid": None, "why_not": None})
    monkeypatch.setattr(B, "_seen", set())
    monkeypatch.setattr(_precompile, "_run_paths", lambda paths: {p: 0.0 for p in paths})
    _precompile.precompile(jobs=1)
    assert B._state["decided"] and B._state["proc"] is None
    assert "precompile" in B._state["why_not"]
    B.before("linear")  # decided: no worker now either
    assert B._state["proc"] is None


def test_a_forked_child_leaves_its_parents_worker_alone(fresh_state, monkeypatch):
    worker, claims = fresh_state
    assert B._claim(str(claims), "transfer")  # the worker's
    monkeypatch.setitem(B._state, "pid", os.getpid() + 1)  # as seen from a forked child
    t0 = time.perf_counter()
    B.before("transfer")  # no wait on a worker that is not its own: compiles it itself
    assert time.perf_counter() - t0 < 5.0
    B.stop()  # and at its exit neither stops the worker nor removes the claims
    assert claims.exists() and worker.status is None
