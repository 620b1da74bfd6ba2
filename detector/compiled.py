"""The compiled per-record kernels (``detector/native``, Rust) and the switch back to Python.

Each kernel is the compiled twin of one Python reference function, built by ``make install``:

* ``TextKernel`` -- :func:`detector.text.analyse` (normalisation, masking, tokens, skeleton codes)
  and the skeleton fingerprint;
* ``DomainMarks`` -- the counts and word tests :func:`detector.domains.domain_of` decides on, and
  its decision;
* ``TextSignals`` -- :func:`detector.signals.text_signals` (its gated phrase rules run their own
  ``re`` patterns, called from the kernel);
* ``FeatureKernel`` -- everything :func:`detector.features.extract` derives from the user turn in
  one call: the three kernels above, :func:`detector.text.dominant_script`, the prompt and skeleton
  fingerprints and the SimHash (with the memoised system prompt's ``SystemPart``);
* ``RequestKernel`` -- all of :func:`detector.features.extract` around ``FeatureKernel``: the
  message structure, parameter, turn and shape bits and the identifier hashes, returning the
  ``EventFeatures``;
* ``RecordKernel`` -- :func:`detector.parse.check_record` for plainly valid records (it defers
  every other record to the Python reference, which writes the rejection); given a record's bytes
  instead of the dict, it decodes them itself without building the dict (the fused decode + check of
  :func:`detector.parse.parse_line` and :func:`detector.parse.parse_message`), deferring to
  ``orjson.loads`` on any bytes orjson might read otherwise;
* ``WindowKernel`` -- makes ``KeyWindows``, the twin of :class:`detector.windows.KeyWindows` (one
  key's buckets and sketches, the same bytes) whose ``summarise`` also computes
  :func:`detector.summary.bucket_stats` per horizon; built by :mod:`detector.partition`.

A module that has a kernel constructs it once at import with :func:`kernel` (handing over its own
tables, so each vocabulary has one definition) and calls it only while :data:`ON` is true; else,
or when the extension is not built, it runs its Python reference. Both give the same bytes: the
property tests in ``tests/unit/test_native.py`` and ``tests/unit/test_native_windows.py`` hold them equal.

When it fails: with ``DETECTOR_NATIVE=0`` or without the extension, everything still runs, at the
Python reference's speed. Cost: none beyond one attribute lookup per call.

>>> from detector import compiled
>>> with compiled.python_reference():
...     print(compiled.ON, compiled.built())
False True
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ON = True
"""Whether callers use their compiled kernel (false inside :func:`python_reference`)."""


def _module() -> Any:
    if os.environ.get("DETECTOR_NATIVE", "1") == "0":
        return None
    try:
        return importlib.import_module("detector_native")
    except ImportError:
        return None


_NATIVE = _module()


def kernel(name: str, *args: Any) -> Any:
    """An instance of the compiled kernel class ``name`` built from ``args``, or None when the
    extension is not built (or ``DETECTOR_NATIVE=0``)."""
    return None if _NATIVE is None else getattr(_NATIVE, name)(*args)


def built() -> bool:
    """Whether the compiled extension is importable (and not turned off)."""
    return _NATIVE is not None


@contextmanager
def python_reference() -> Iterator[None]:
    """Run every Python reference instead of its kernel inside the block (benchmarks and tests
    compare the two)."""
    global ON
    saved, ON = ON, False
    try:
        yield
    finally:
        ON = saved
