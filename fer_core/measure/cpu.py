"""What the CPU can do, read from Linux's ``/proc/cpuinfo``: its model and the vector instructions that decide
how fast the int8 runtime classifies and how fast training runs (a CPU with AVX-512 VNNI and bfloat16
instructions runs both several times faster than one with AVX2 only)."""

from __future__ import annotations

from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")

NATIVE_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")
"""CPU flags (as Linux names them) of instructions that compute in bfloat16."""

VECTOR_FLAGS = (("amx_tile", "AMX"), ("avx512_bf16", "AVX-512 BF16"), ("avx512_vnni", "AVX-512 VNNI"),
                ("avx512f", "AVX-512"), ("avx2", "AVX2"))  # fmt: skip
"""The flags named in a CPU's description, widest first."""


def read_cpuinfo() -> str | None:
    """``/proc/cpuinfo``'s text, or None where there is none (not Linux)."""
    try:
        return CPUINFO.read_text(errors="replace")
    except OSError:
        return None


def _first_value(cpuinfo: str, field: str) -> str | None:
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == field:
            return value.strip()
    return None


def cpu_flags(cpuinfo: str) -> set[str]:
    """The x86 flags of the first processor in a ``/proc/cpuinfo`` text (empty if none: ARM lists ``Features``)."""
    return set((_first_value(cpuinfo, "flags") or "").split())


def native_bfloat16(cpuinfo: str | None = None) -> bool | None:
    """True if the CPU computes in bfloat16 natively, False if it does not, None where that cannot be read
    (no ``/proc/cpuinfo``: not Linux; or no flags line, e.g. an ARM CPU that names its features otherwise)."""
    cpuinfo = read_cpuinfo() if cpuinfo is None else cpuinfo
    flags = cpu_flags(cpuinfo or "")
    if not flags:
        return None
    return any(flag in flags for flag in NATIVE_BFLOAT16_FLAGS)


def describe_cpu(cpuinfo: str | None = None) -> str | None:
    """``"AMD EPYC (AVX2)"``: the model name and the vector instructions it has, or None where unknown."""
    cpuinfo = read_cpuinfo() if cpuinfo is None else cpuinfo
    if not cpuinfo:
        return None
    model = _first_value(cpuinfo, "model name") or "unknown CPU"
    flags = cpu_flags(cpuinfo)
    vector = [name for flag, name in VECTOR_FLAGS if flag in flags]
    return f"{model} ({', '.join(vector)})" if vector else model
