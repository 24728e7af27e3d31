"""Whether bfloat16 training pays off on this machine's CPU.

``mixed_bfloat16`` (the training default) runs 30-55% faster than float32 on a CPU with native bfloat16
instructions (AVX-512 BF16 or AMX, e.g. recent Xeons), but on one without them (AVX2 only, e.g. many AMD EPYC
virtual machines) TensorFlow emulates it and an epoch takes several times longer. Linux lists the instructions
in ``/proc/cpuinfo``'s ``flags``.
"""

from __future__ import annotations

from pathlib import Path

NATIVE_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")
"""CPU flags (as Linux names them) of instructions that compute in bfloat16."""

CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: str) -> set[str]:
    """The x86 flags of the first processor in a ``/proc/cpuinfo`` text (empty if none: ARM lists ``Features``)."""
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "flags":
            return set(value.split())
    return set()


def native_bfloat16(cpuinfo: str | None = None) -> bool | None:
    """True if the CPU computes in bfloat16 natively, False if it does not, None where that cannot be read
    (no ``/proc/cpuinfo``: not Linux; or no flags line, e.g. an ARM CPU that names its features otherwise)."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(errors="replace")
        except OSError:
            return None
    flags = cpu_flags(cpuinfo)
    if not flags:
        return None
    return any(flag in flags for flag in NATIVE_BFLOAT16_FLAGS)


def slow_bfloat16_warning(cpuinfo: str | None = None) -> str | None:
    """A warning for a bfloat16 run on a CPU without native bfloat16, else None."""
    if native_bfloat16(cpuinfo) is not False:
        return None
    return (
        "this CPU has no native bfloat16 instructions (none of the flags "
        + ", ".join(NATIVE_BFLOAT16_FLAGS)
        + " in /proc/cpuinfo): bfloat16 training is emulated here and runs several times slower than float32; "
        "train with --no-mixed-precision"
    )
