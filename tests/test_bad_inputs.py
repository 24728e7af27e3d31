"""Bad inputs end to end: every file of the generated corpus and thousands of mutated real images go through
``load_image`` and the upload page's handler ``analyze_upload``; each ends in a result or a clear message,
in bounded time and memory, and nothing of the image reaches the logs.

Run with ``-s`` to see how many inputs were tried (also recorded as the ``inputs_tried`` test property);
``FER_FUZZ_EXAMPLES=5000`` for a longer property-based run.
"""

from __future__ import annotations

import logging
import os
import re
import resource
import struct

import numpy as np
import pytest
from bad_input_corpus import Case, astronaut, build_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import call_with_timeout, encode, model_path_for_tests, png_chunk, rss_bytes

from fer_core.recognition.image_io import ImageLoadError, display_name, load_image
from fer_core.recognition.recognizer import EmotionRecognizer
from fer_core.sessions.upload import UploadAnalysis, analyze_upload

SECONDS_PER_INPUT = 20.0
"""Generous: the slowest valid corpus file takes well under a second here, even next to a training run."""
RSS_GROWTH_LIMIT = 300 * 1024 * 1024
"""Largest corpus image decoded (10000 x 50 / 512 x 512) needs a few MB; a decoded bomb would need >= 120 MB
(and the 20000 x 20000 one 1.2 GB)."""


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory) -> EmotionRecognizer:
    return EmotionRecognizer(model_path_for_tests(tmp_path_factory.mktemp("model")))


@pytest.fixture(scope="module")
def corpus() -> list[Case]:
    return build_corpus()


def check_loaded(case: Case) -> str:
    """Run load_image on one case within the time limit; return the rejection message ('' if decoded)."""
    outcome = call_with_timeout(lambda: load_image(case.data, name=case.name), SECONDS_PER_INPUT)
    assert outcome.finished, f"load_image hung on {case.name!r}"
    if case.accepted:
        assert outcome.error is None, f"{case.name!r} should decode, got {outcome.error!r}"
        pixels = outcome.value
        assert isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8 and pixels.shape == case.shape
        return ""
    assert isinstance(outcome.error, ImageLoadError), f"{case.name!r}: expected ImageLoadError, got {outcome!r}"
    message = str(outcome.error)
    assert display_name(case.name) in message, message  # names the file
    assert case.message.lower() in message.lower(), message
    assert "\n" not in message and len(message) < 300, message
    return message


def check_uploaded(case: Case, recognizer: EmotionRecognizer) -> UploadAnalysis:
    outcome = call_with_timeout(lambda: analyze_upload(case.data, case.name, recognizer), SECONDS_PER_INPUT)
    assert outcome.finished, f"analyze_upload hung on {case.name!r}"
    assert outcome.error is None, f"analyze_upload raised on {case.name!r}: {outcome.error!r}"
    analysis = outcome.value
    assert isinstance(analysis, UploadAnalysis)
    if case.accepted:
        assert analysis.ok, analysis.error
        assert analysis.image is not None and analysis.image.shape == case.shape
        assert analysis.annotated is not None and analysis.annotated.shape == case.shape
        for face in analysis.faces:
            assert abs(sum(face.probabilities) - 1.0) < 1e-3
    else:
        assert not analysis.ok and analysis.error and analysis.annotated is None
    return analysis


def test_corpus_through_load_image_and_analyze_upload(corpus, recognizer, record_property, capsys):
    baseline_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    baseline_rss = rss_bytes()
    rejected, decoded, worst = 0, 0, (0.0, "")
    for case in corpus:
        before = rss_bytes()
        message = check_loaded(case)
        analysis = check_uploaded(case, recognizer)
        if case.accepted:
            decoded += 1
        else:
            rejected += 1
            assert analysis.error == message  # the page shows exactly load_image's message
        growth = rss_bytes() - before
        assert growth < RSS_GROWTH_LIMIT, f"{case.name!r}: RSS grew by {growth / 2**20:.0f} MiB"
        worst = max(worst, (growth / 2**20, case.name))
    peak_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline_peak
    assert peak_growth < RSS_GROWTH_LIMIT, f"peak RSS grew by {peak_growth / 2**20:.0f} MiB"
    assert rejected >= 20 and decoded >= 25
    record_property("inputs_tried", len(corpus))
    with capsys.disabled():
        print(
            f"\n[bad inputs] corpus: {len(corpus)} files, {decoded} decoded, {rejected} rejected with a message; "
            f"RSS {baseline_rss / 2**20:.0f} MiB, peak growth {peak_growth / 2**20:.0f} MiB, "
            f"largest per-file growth {worst[0]:.1f} MiB ({worst[1]!r})"
        )


# ---------------------------------------------------------------- property-based: mutated real images


def _seed_images() -> dict[str, bytes]:
    face = astronaut()[40:200, 150:310]  # the astronaut's head, 160 x 160
    return {
        "jpeg": encode(face, "JPEG", quality=85),
        "progressive-jpeg": encode(face, "JPEG", quality=85, progressive=True),
        "png": encode(face, "PNG"),
        "gray-png": encode(face[:, :, 1], "PNG"),
        "webp": encode(face, "WEBP", quality=80),
        "gif": encode(face[::2, ::2], "GIF"),
        "bmp": encode(face[::2, ::2], "BMP"),
    }


SEEDS = _seed_images()
SEED_NAMES = sorted(SEEDS)
TRIED = {"inputs": 0, "decoded": 0, "rejected": 0}


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, offset = [], 8
    while offset + 8 <= len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        chunks.append((kind, data[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    return chunks


@st.composite
def mutated_images(draw) -> tuple[str, bytes]:
    name = draw(st.sampled_from(SEED_NAMES))
    data = bytearray(SEEDS[name])
    kind = draw(st.sampled_from(["bitflip", "truncate", "splice", "overwrite", "insert", "delete", "png-chunk"]))
    size = len(data)
    if kind == "bitflip":
        for _ in range(draw(st.integers(1, 8))):
            # Bias towards the header, where the decoder's decisions are made.
            position = draw(st.one_of(st.integers(0, min(size - 1, 300)), st.integers(0, size - 1)))
            data[position] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        data = data[: draw(st.integers(0, size - 1))]
    elif kind == "splice":
        other = SEEDS[draw(st.sampled_from(SEED_NAMES))]
        data = data[: draw(st.integers(0, size))] + other[draw(st.integers(0, len(other))) :]
    elif kind == "overwrite":
        position = draw(st.integers(0, size - 1))
        patch = draw(st.binary(min_size=1, max_size=16))
        data[position : position + len(patch)] = patch
    elif kind == "insert":
        position = draw(st.integers(0, size))
        data[position:position] = draw(st.binary(min_size=1, max_size=64))
    elif kind == "delete":
        start = draw(st.integers(0, size - 1))
        del data[start : start + draw(st.integers(1, 64))]
    else:  # corrupt one PNG chunk's payload but fix its CRC, so the damage reaches the decoder itself
        png = SEEDS[draw(st.sampled_from(["png", "gray-png"]))]
        chunks = _png_chunks(png)
        index = draw(st.integers(0, len(chunks) - 1))
        kind_bytes, payload = chunks[index]
        payload = bytearray(payload)
        if payload:
            for _ in range(draw(st.integers(1, 4))):
                payload[draw(st.integers(0, len(payload) - 1))] = draw(st.integers(0, 255))
        chunks[index] = (kind_bytes, bytes(payload))
        data = bytearray(b"\x89PNG\r\n\x1a\n" + b"".join(png_chunk(k, p) for k, p in chunks))
        name = f"png-chunk-{kind_bytes.decode('latin-1')}"
    return f"{kind}-{name}", bytes(data)


@settings(
    max_examples=int(os.environ.get("FER_FUZZ_EXAMPLES", "500")),  # 500 in CI (~15 s); more by hand
    deadline=None,
    database=None,  # writes nothing to disk (.hypothesis/)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(sample=mutated_images())
def test_mutated_real_images_end_in_an_array_or_a_message(sample, recognizer):
    name, data = sample
    TRIED["inputs"] += 1
    outcome = call_with_timeout(lambda: load_image(data, name=name), SECONDS_PER_INPUT)
    assert outcome.finished, f"load_image hung on {name}"
    if outcome.error is None:
        pixels = outcome.value
        assert isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8
        assert pixels.ndim == 3 and pixels.shape[2] == 3 and min(pixels.shape[:2]) >= 1
        TRIED["decoded"] += 1
    else:
        assert isinstance(outcome.error, ImageLoadError), f"{name}: {outcome.error!r}"
        assert name in str(outcome.error)
        TRIED["rejected"] += 1
    upload = call_with_timeout(lambda: analyze_upload(data, name, recognizer), SECONDS_PER_INPUT)
    assert upload.finished and upload.error is None, f"analyze_upload on {name}: {upload.error!r}"
    assert upload.value.ok == (outcome.error is None)


def test_report_mutation_count(record_property, capsys):
    """Runs after the property test (file order) and reports how many mutated inputs it tried."""
    if TRIED["inputs"] == 0:
        pytest.skip("the property test did not run in this session")
    record_property("mutated_inputs_tried", TRIED["inputs"])
    with capsys.disabled():
        print(
            f"\n[bad inputs] mutated real images: {TRIED['inputs']} tried, {TRIED['decoded']} decoded, "
            f"{TRIED['rejected']} rejected with a message"
        )
    assert TRIED["decoded"] > 0 and TRIED["rejected"] > 0


# ---------------------------------------------------------------- logs: context yes, image data no

BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{120,}={0,2}")
ESCAPED_BYTES = re.compile(r"(\\x[0-9a-f]{2}){16,}")
NUMBER_GRID = re.compile(r"\[\s*\[?\s*\d+[\s,]+\d+[\s,]+\d+[\s,]+\d+")


def _log_text(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info:
        text += "\n" + logging.Formatter().formatException(record.exc_info)
    return text


def test_logs_have_context_and_no_image_data(corpus, recognizer, caplog):
    caplog.set_level(logging.DEBUG)
    for case in corpus:
        caplog.clear()
        analysis = analyze_upload(case.data, case.name, recognizer)
        texts = [_log_text(record) for record in caplog.records]
        for text in texts:
            assert len(text) < 2000, f"{case.name!r}: a {len(text)}-character log record"
            assert not BASE64_RUN.search(text), f"{case.name!r}: base64-like blob in the log: {text[:200]!r}"
            assert not ESCAPED_BYTES.search(text), f"{case.name!r}: raw bytes in the log: {text[:200]!r}"
            assert not NUMBER_GRID.search(text), f"{case.name!r}: a pixel array in the log: {text[:200]!r}"
            assert "\n" not in text.split("Traceback")[0].strip(), f"{case.name!r}: multi-line log message"
        label, size = display_name(case.name), f"{len(case.data)} bytes"
        if not analysis.ok:
            warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("fer_core")]
            assert any(label in _log_text(r) and size in _log_text(r) for r in warnings), (
                f"{case.name!r}: rejection not logged with its name and size: {texts}"
            )
        else:
            assert any(label in text and size in text for text in texts), f"{case.name!r}: no log of the upload"
