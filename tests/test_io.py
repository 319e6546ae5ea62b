"""Atomic outputs: complete or absent, never half-written; usual file permissions."""
import os
import stat

import pytest

from gasp.io import atomic_path, atomic_write_json, atomic_write_text


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "sub" / "out.txt"
    atomic_write_text(p, "one")
    atomic_write_text(p, "two")
    assert p.read_text() == "two"
    assert [f.name for f in p.parent.iterdir()] == ["out.txt"]


def test_failure_keeps_the_old_file_and_removes_the_temp(tmp_path):
    p = tmp_path / "out.json"
    atomic_write_json(p, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert p.read_text().strip().startswith("{") and '"a": 1' in p.read_text()
    assert [f.name for f in tmp_path.iterdir()] == ["out.json"]


def test_permissions_follow_umask_not_mkstemp(tmp_path):
    p = tmp_path / "x.txt"
    atomic_write_text(p, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask
