"""The CIRCUITXBAR_* on/off switches (circuitxbar._env): one parser, a clear error."""

import os
import subprocess
import sys

import pytest

from circuitxbar import _env
from circuitxbar.errors import ValidationError


@pytest.mark.parametrize("name", sorted(_env.SWITCHES))
def test_every_switch_reads_its_default_when_unset_or_empty(name, monkeypatch):
    default = _env.SWITCHES[name][0]
    monkeypatch.delenv(name, raising=False)
    assert _env.switch(name) is default
    monkeypatch.setenv(name, "  ")
    assert _env.switch(name) is default


@pytest.mark.parametrize("raw, on", [("1", True), (" Yes ", True), ("ON", True), ("true", True),
                                     ("0", False), ("False", False), (" no", False),
                                     ("off", False)])
def test_on_and_off_values_in_any_case(raw, on, monkeypatch):
    name = "CIRCUITXBAR_LOOP_UNROLL"
    monkeypatch.setenv(name, raw)
    assert _env.switch(name) is on


def test_a_mistyped_switch_is_an_error_naming_it_and_the_fix(monkeypatch):
    monkeypatch.setenv("CIRCUITXBAR_NO_CACHE", "yse")
    with pytest.raises(ValidationError) as err:
        _env.switch("CIRCUITXBAR_NO_CACHE")
    text = str(err.value)
    assert "CIRCUITXBAR_NO_CACHE='yse'" in text and "1/true/yes/on" in text
    assert "default (off)" in text


def test_the_import_fails_on_a_mistyped_switch_by_name():
    env = dict(os.environ, CIRCUITXBAR_BACKGROUND_COMPILE="nein")
    run = subprocess.run([sys.executable, "-c", "import circuitxbar"], capture_output=True,
                         text=True, env=env)
    assert run.returncode != 0
    assert "ValidationError" in run.stderr
    assert "CIRCUITXBAR_BACKGROUND_COMPILE='nein'" in run.stderr


def test_the_modules_read_their_switch_through_the_one_parser():
    # "off" was not understood by the separate parsers this replaced
    code = ("import circuitxbar._memory as m, circuitxbar._config as c, "
            "circuitxbar._background as b; print(m.SWITCHED_OFF, c.CACHE, b.switched_off())")
    env = dict(os.environ, CIRCUITXBAR_MALLOC_TUNING="off", CIRCUITXBAR_NO_CACHE="On",
               CIRCUITXBAR_BACKGROUND_COMPILE="OFF")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, env=env).stdout
    assert out.split() == ["True", "False", "True"]
