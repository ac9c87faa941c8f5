"""Files this process writes (view pictures, exports) live in folders named with its process id:
removed at exit, and at start every such folder of a process that is no longer running (a crash,
a killed test run) is removed too, so the temp folder does not grow with each run."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from pathlib import Path

__all__ = ["own_folder", "remove_stale"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(parent: str | Path, prefix: str) -> list[Path]:
    """Remove ``parent/prefix<pid>-*`` folders whose process is gone; returns what went."""
    gone = []
    pattern = re.compile(re.escape(prefix) + r"(\d+)-")
    for path in Path(parent).glob(prefix + "*"):
        m = pattern.match(path.name)
        if m and path.is_dir() and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            gone.append(path)
    return gone


def own_folder(prefix: str, parent: str | Path | None = None) -> Path:
    """A new folder ``prefix<pid>-XXXX`` under ``parent`` (default: the temp folder), removed when
    this process exits; stale ones of dead processes are removed first."""
    parent = Path(parent or tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale(parent, prefix)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
    atexit.register(shutil.rmtree, folder, True)
    return folder
