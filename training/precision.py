"""Whether bfloat16 training pays off on this machine's CPU.

``mixed_bfloat16`` (the training default) runs 30-55% faster than float32 on a CPU with native bfloat16
instructions (AVX-512 BF16 or AMX, e.g. recent Xeons), but on one without them (AVX2 only, e.g. many AMD EPYC
virtual machines) TensorFlow emulates it and an epoch takes several times longer. Linux lists the instructions
in ``/proc/cpuinfo``'s ``flags`` (:mod:`fer_core.measure.cpu` reads them).
"""

from __future__ import annotations

from fer_core.measure.cpu import NATIVE_BFLOAT16_FLAGS, native_bfloat16


def slow_bfloat16_warning(cpuinfo: str | None = None) -> str | None:
    """A warning for a bfloat16 run on a CPU without native bfloat16 (``cpuinfo``: this machine's), else None."""
    if native_bfloat16(cpuinfo) is not False:
        return None
    return (
        "this CPU has no native bfloat16 instructions (none of the flags "
        + ", ".join(NATIVE_BFLOAT16_FLAGS)
        + " in /proc/cpuinfo): bfloat16 training is emulated here and runs several times slower than float32; "
        "train with --no-mixed-precision"
    )
