"""training.precision and fer_core.measure.cpu: what this CPU can do, read from /proc/cpuinfo, and whether
bfloat16 training pays off on it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fer_core.measure import cpu
from fer_core.measure.cpu import cpu_flags, describe_cpu, native_bfloat16
from training.precision import slow_bfloat16_warning

FIXTURES = Path(__file__).parent / "fixtures" / "cpuinfo"
EPYC = (FIXTURES / "amd_epyc_avx2.txt").read_text()
"""The first processor of a real 2-core AMD EPYC machine (AVX2, no AVX-512): bfloat16 ran many times slower there."""
NATIVE = EPYC.replace(" avx2 ", " avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8 ")
"""The same with the flags a Sapphire Rapids Xeon adds (AVX-512 BF16, AMX)."""
ARM = "processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 bf16\n"


def test_the_flags_of_a_real_cpuinfo_are_read():
    flags = cpu_flags(EPYC)
    assert {"avx2", "fma", "sse4_2"} <= flags and "avx512f" not in flags
    assert cpu_flags("") == set() and cpu_flags(ARM) == set()


def test_native_bfloat16_is_true_false_or_unknown():
    assert native_bfloat16(EPYC) is False
    assert native_bfloat16(NATIVE) is True
    assert native_bfloat16(ARM) is None, "ARM names its features otherwise: not claimed either way"
    assert native_bfloat16("") is None


def test_the_warning_names_the_flags_and_the_way_out():
    warning = slow_bfloat16_warning(EPYC)
    assert warning is not None and "avx512_bf16" in warning and "--no-mixed-precision" in warning
    assert slow_bfloat16_warning(NATIVE) is None and slow_bfloat16_warning(ARM) is None


def _set_up_warnings(caplog, config) -> list[str]:
    """The warnings ``set_up_keras`` logs for this run's configuration (the policy is put back afterwards)."""
    import keras

    from training.train import set_up_keras

    try:
        with caplog.at_level(logging.WARNING, logger="training.train"):
            set_up_keras(config)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return [record.getMessage() for record in caplog.records]


@pytest.mark.parametrize(
    ("cpuinfo", "mixed", "warned"), [(EPYC, True, True), (NATIVE, True, False), (EPYC, False, False)]
)
def test_a_bfloat16_run_on_a_cpu_without_it_is_warned_about(monkeypatch, caplog, tmp_path, cpuinfo, mixed, warned):
    from training.train import TrainConfig

    (tmp_path / "cpuinfo").write_text(cpuinfo)
    monkeypatch.setattr(cpu, "CPUINFO", tmp_path / "cpuinfo")
    warnings = _set_up_warnings(caplog, TrainConfig(mixed_precision=mixed))
    assert any("no native bfloat16" in message for message in warnings) == warned


@pytest.mark.parametrize(("onednn", "mixed", "warned"), [("0", True, True), ("1", True, False), ("0", False, False)])
def test_bfloat16_training_without_onednn_is_warned_about(monkeypatch, caplog, onednn, mixed, warned):
    """The tests run with oneDNN off (TF_ENABLE_ONEDNN_OPTS=0); a training run started from such a shell crawls."""
    from training.train import TrainConfig

    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", onednn)
    warnings = _set_up_warnings(caplog, TrainConfig(mixed_precision=mixed))
    assert any("TF_ENABLE_ONEDNN_OPTS=0" in message for message in warnings) == warned


def test_no_cpuinfo_is_no_warning(monkeypatch, tmp_path):
    monkeypatch.setattr(cpu, "CPUINFO", tmp_path / "missing")
    assert native_bfloat16() is None and slow_bfloat16_warning() is None and describe_cpu() is None


def test_the_cpu_is_described_by_its_model_and_widest_vector_instructions():
    assert describe_cpu(EPYC) == "AMD EPYC (AVX2)"
    assert describe_cpu(NATIVE) == "AMD EPYC (AMX, AVX-512 BF16, AVX-512, AVX2)"
    assert describe_cpu(ARM) == "unknown CPU", "no model name line, no x86 flags"
