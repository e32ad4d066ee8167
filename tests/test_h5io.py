"""Atomic HDF5 writes: an interrupted write never leaves a partial file or replaces a good one."""

import h5py
import numpy as np
import pytest

from circuitxbar.errors import ResultFileError
from circuitxbar.h5io import atomic_write, write_dataset


def _write_ok(tmp):
    with h5py.File(tmp, "w") as f:
        write_dataset(f, "v", np.arange(3.0), "V", "three voltages")
        write_dataset(f, "names", ["a", "bc"], "", "labels")


def test_atomic_write_creates_a_self_describing_file(tmp_path):
    path = atomic_write(tmp_path / "r.h5", _write_ok)
    with h5py.File(path) as f:
        np.testing.assert_array_equal(f["v"][()], [0.0, 1.0, 2.0])
        assert f["v"].attrs["units"] == "V" and f["v"].attrs["description"] == "three voltages"
        assert [x.decode() for x in f["names"][()]] == ["a", "bc"]


def test_interrupted_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    path = atomic_write(tmp_path / "r.h5", _write_ok)

    def interrupted(tmp):
        with h5py.File(tmp, "w") as f:
            f["half"] = np.zeros(10)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, interrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]
    with h5py.File(path) as f:
        assert "v" in f and "half" not in f


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ResultFileError, match="does not exist"):
        atomic_write(tmp_path / "nope" / "r.h5", _write_ok)
