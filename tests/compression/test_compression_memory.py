"""Memory does not grow with package size: a package far bigger than the limit streams."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_CHILD = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from sitesrv.compression import install, merge, make_delta, pack
    work = Path(sys.argv[1])
    (work / "src").mkdir()
    with open(work / "src" / "zeros.bin", "wb") as fh:
        fh.truncate(int(sys.argv[2]))
    (work / "src" / "random.bin").write_bytes(os.urandom(8 << 20))
    pck = pack(work / "src", work / "CEN00001.PCK", "CEN00001", 1).path
    (work / "src" / "new.txt").write_text("v2")
    dlt = make_delta(pck, work / "src", work / "CEN00001.DLT.2", "CEN00001", 2).path
    merge(pck, dlt, pck)
    install(pck, work / "share", "CEN00001")
    # VmHWM, not ru_maxrss: a child started by vfork inherits the parent's ru_maxrss.
    print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_peak_memory_stays_far_below_the_package_size(tmp_path: Path) -> None:
    package_size = 200 << 20
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path), str(package_size)],
        check=True,
        capture_output=True,
        text=True,
    )
    peak_bytes = int(child.stdout) * 1024
    assert peak_bytes < 100 << 20
    assert (tmp_path / "share" / "CEN00001" / "zeros.bin").stat().st_size == package_size
