"""A module whose import waits until the file named by FIELDREC_TEST_GATE exists (at most a
minute): a worker preloading it can only finish once a task it served has opened the gate."""

import os
import time
from pathlib import Path

_gate = Path(os.environ["FIELDREC_TEST_GATE"])
_end = time.monotonic() + 60
while not _gate.exists() and time.monotonic() < _end:
    time.sleep(0.02)
OPENED = _gate.exists()
