"""A private file may be asked for inside a shared directory; the directory is left shared."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gateway.private_files import create_private_file, ensure_private_dir


def test_a_sticky_shared_directory_like_tmp_is_never_narrowed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    ensure_private_dir(shared)
    audit = create_private_file(shared / "audit.sqlite")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600
