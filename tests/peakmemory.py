"""The peak memory one call adds, measured in a new interpreter, for the limits' memory tests.

The child reads its high-water mark (`VmHWM`, Linux) after its imports and again after the call,
and prints the difference and what the call raised. `ru_maxrss` will not do: a child started by
vfork inherits its parent's, and the test process is far bigger than any bound checked here.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import attrs
import pytest

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")

_CHILD = """
import sys
def high_water():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
{setup}
before = high_water()
try:
    {call}
    outcome = "ok"
except Exception as e:
    outcome = f"{{type(e).__name__}}: {{e}}"
print((high_water() - before) / 1024)
print(outcome.replace("\\n", " "))
"""


@attrs.frozen
class Measured:
    """What the call added to the peak (MiB) and how it ended (`ok`, or `Type: message`)."""

    mib: float
    outcome: str


def measure(setup: str, call: str, *args: str) -> Measured:
    """Run `setup` (imports, preparation), then `call`; `sys.argv[1:]` are `args`."""
    code = _CHILD.format(setup=textwrap.dedent(setup), call=call)
    child = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                           check=True)
    mib, outcome = child.stdout.splitlines()
    return Measured(float(mib), outcome)
