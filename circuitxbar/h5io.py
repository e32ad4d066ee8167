"""Shared HDF5 helpers: writes that never leave a half-written file, self-describing datasets.

Every result file of circuitxbar is written through :func:`atomic_write` (temporary file in the
target directory, then ``os.replace``) and stores units and a description on every dataset.
"""

from __future__ import annotations

import os
import pathlib
import tempfile

import numpy as np

from circuitxbar.errors import ResultFileError


def atomic_write(path, write):
    """Call ``write(tmp_path)`` and move the finished file to ``path`` in one step.

    An interrupted or failing ``write`` removes its temporary file and leaves any earlier file
    at ``path`` untouched.
    """
    path = pathlib.Path(path)
    directory = path.parent if str(path.parent) else pathlib.Path(".")
    if not directory.is_dir():
        raise ResultFileError(
            f"cannot write {str(path)!r}: directory {str(directory)!r} does not exist; "
            f"create it or choose another output path"
        )
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates 0600; give the result the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_dataset(group, name, data, units, description):
    """Create ``group[name]`` with ``units`` and ``description`` attributes; strings are stored
    as variable-length UTF-8."""
    import h5py

    arr = np.asarray(data)
    if arr.dtype.kind in "US" or arr.dtype == object:
        arr = np.asarray([str(x) for x in np.ravel(arr)], dtype=object)
        ds = group.create_dataset(name, data=arr, dtype=h5py.string_dtype())
    else:
        ds = group.create_dataset(name, data=arr)
    ds.attrs["units"] = units
    ds.attrs["description"] = description
    return ds
