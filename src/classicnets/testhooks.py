"""Pause points for crash tests: hold a real training process at a chosen place so a test can kill it there.

    CLASSICNETS_TEST_PAUSE_AT=<point>:<n>   pause the n-th time (1-based) the process reaches <point>
    CLASSICNETS_TEST_PAUSE_MARKER=<file>    written (with the process id and the point) once paused;
                                            under torchrun with several processes, <file>.<rank>

Points: `step` (a training step has finished: model, optimizer and running sums updated) and
`rename:<file name>` (the file's new content is written and flushed to a temporary sibling, not yet
renamed over it; `rename:results.json` is therefore after `model.safetensors` is in place and before
the run is marked finished). A paused thread sleeps until the process is killed; the test waits for
the marker instead of sleeping and hoping. It may also signal the paused process and then delete the
marker, which lets the process go on (to see what it does with the signal at exactly that point).

Without the variable, `ACTIVE` is False and the training loop does not call in here at all.
"""
from __future__ import annotations

import os
import threading
import time

_TARGET = os.environ.get("CLASSICNETS_TEST_PAUSE_AT", "")
ACTIVE = bool(_TARGET)
_counts: dict[str, int] = {}
_lock = threading.Lock()


def _parse(target: str) -> tuple[str, int]:
    point, _, n = target.rpartition(":")
    try:
        return point, int(n)
    except ValueError:
        raise ValueError(f"CLASSICNETS_TEST_PAUSE_AT={target!r}: write POINT:N, e.g. step:12") from None


def pause_point(point: str) -> None:
    """Count one arrival at `point`; at the chosen one write the marker and sleep until killed."""
    if not ACTIVE:
        return
    want, n = _parse(_TARGET)
    if point != want:
        return
    with _lock:
        _counts[point] = count = _counts.get(point, 0) + 1
    if count != n:
        return
    marker = os.environ.get("CLASSICNETS_TEST_PAUSE_MARKER")
    if not marker:
        raise ValueError("CLASSICNETS_TEST_PAUSE_AT needs CLASSICNETS_TEST_PAUSE_MARKER")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # torchrun gives every process the same environment
        marker += "." + os.environ.get("RANK", "0")
    tmp = f"{marker}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()} {point}:{n}\n")
    os.replace(tmp, marker)  # the test never reads half a marker
    while os.path.exists(marker):  # until killed, or released by the test deleting the marker
        time.sleep(0.02)
