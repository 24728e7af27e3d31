"""fer_core.measure.readme_bench: README's bench block is exactly the recorded bench run, in the app's configuration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from fer_core.measure.readme_bench import END, README, RECORD, START, main

REPO = Path(__file__).resolve().parents[1]


def test_readme_bench_block_is_generated_from_the_record():
    assert main(["--check"]) == 0
    record = json.loads(RECORD.read_text())
    assert record["command"] in README.read_text()
    assert record["report"]["config"]["threads"] == 1


def test_check_fails_on_a_hand_edited_block_and_the_command_repairs_it(tmp_path):
    readme = tmp_path / "README.md"
    text = README.read_text()
    head, rest = text.split(START, 1)
    inside, tail = rest.split(END, 1)
    readme.write_text(head + START + inside.replace("peak RSS", "peak RSS (typed by hand)") + END + tail)
    assert main(["--check", "--readme", str(readme)]) == 1
    assert main(["--readme", str(readme)]) == 0
    assert readme.read_text() == text


def test_check_fails_when_the_record_is_of_another_configuration(tmp_path):
    readme = tmp_path / "README.md"
    shutil.copyfile(README, readme)
    for key, value in (("views", "none"), ("members", ["another.keras"]), ("spread_stream_views", False)):
        record = json.loads(RECORD.read_text())
        record["report"]["config"][key] = value
        stale = tmp_path / "bench.json"
        stale.write_text(json.dumps(record))
        assert main(["--readme", str(readme), "--record", str(stale)]) == 1  # refuses to write a stale configuration
        assert main(["--check", "--readme", str(readme), "--record", str(stale)]) == 1, key


def test_the_machine_is_described_with_its_cpu_and_vector_instructions():
    """The bench record says which CPU it ran on: AVX2 against AVX-512 VNNI changes the timings several times."""
    import platform

    from fer_core.measure.cpu import describe_cpu
    from fer_core.measure.readme_bench import machine_description

    description = machine_description()
    assert description.startswith(platform.machine() + ", ")
    assert description.endswith(f"CPUs, {platform.python_implementation()} {platform.python_version()}")
    cpu = describe_cpu()
    if cpu is not None:  # Linux
        assert f", {cpu}, " in description
