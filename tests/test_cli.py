"""The command line: the default job runs on its embedded data and reports real figures."""

import re

import numpy as np
import pytest

import circuitxbar as cx
from circuitxbar.cli import main


def test_default_job_is_the_demo_and_reports_a_checked_solve(capsys):
    assert main(["demo", "--size", "24", "--batch", "3", "--r-wire", "2.0"]) == 0
    out = capsys.readouterr().out
    err = float(re.search(r"IR-drop error of i_out vs G\^T v\s+mean ([0-9.]+)%", out).group(1))
    # recompute the same seeded case independently: the printed error is the solver's
    rng = np.random.default_rng(0)
    g = rng.uniform(1e-6, 5e-5, (24, 24))
    v = rng.uniform(0.0, 0.2, (3, 24))
    res = cx.solve(cx.Crossbar(g, 2.0, 2.0), v)
    ideal = v @ g
    expected = (np.abs(res.i_out - ideal) / np.abs(ideal).max(axis=1, keepdims=True)).mean()
    assert err == pytest.approx(100 * expected, abs=1e-3)
    balance = float(re.search(r"\|P_src - P_diss\|/P_src\s+([0-9.e+-]+)", out).group(1))
    assert balance < 1e-9


def test_no_command_runs_the_default_job(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "circuitxbar demo: 256x256 crossbar" in out
    m = re.search(r"KCL mismatch beyond float64 rounding <= ([0-9.]+e[+-][0-9]+)", out)
    assert m and float(m.group(1)) <= 1e-9


def test_the_default_job_takes_its_options_without_the_command_name(capsys):
    assert main(["--size", "8", "--batch", "1"]) == 0
    assert "circuitxbar demo: 8x8 crossbar" in capsys.readouterr().out


def test_a_slow_first_call_names_precompile(capsys, monkeypatch):
    from circuitxbar import demo

    monkeypatch.setattr(demo, "COMPILE_HINT_S", -1.0)  # every first call counts as a compile
    assert main(["demo", "--size", "8", "--batch", "1"]) == 0
    assert "circuitxbar precompile" in capsys.readouterr().out
    monkeypatch.setattr(demo, "COMPILE_HINT_S", 1e9)
    assert main(["demo", "--size", "8", "--batch", "1"]) == 0
    assert "circuitxbar precompile" not in capsys.readouterr().out


def test_bad_value_is_a_clear_error(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--size", "abc"])
    assert "invalid int value" in capsys.readouterr().err
