"""Helpers shared by the reliability tests (bad inputs, upload, soak, privacy): not a test module itself."""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from fer_core.recognition.classifier import default_model_path


def model_path_for_tests(directory: Path) -> Path:
    """The shipped model; while it has not been exported yet, an untrained model of the same shape.

    The tests that use this check behaviour that does not depend on which weights are shipped (no crash,
    bounded time and memory, probabilities that sum to 1).
    """
    shipped = default_model_path()
    if shipped.is_file():
        return shipped
    from conftest import save_small_random_model

    path = directory / "untrained_fer_model.keras"
    save_small_random_model(path)
    return path


def rss_bytes(pid: int | None = None) -> int:
    return psutil.Process(pid or os.getpid()).memory_info().rss


class Outcome:
    """What a call bounded by :func:`call_with_timeout` did: its value, its exception, or that it hung."""

    def __init__(self) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.finished = False
        self.seconds = 0.0


def call_with_timeout(function: Callable[[], Any], seconds: float) -> Outcome:
    """Run ``function`` in a daemon thread and wait at most ``seconds``; a hang shows as ``finished=False``."""
    outcome = Outcome()

    def target() -> None:
        started = time.perf_counter()
        try:
            outcome.value = function()
        except BaseException as error:  # reported to the test, which decides
            outcome.error = error
        finally:
            outcome.seconds = time.perf_counter() - started
            outcome.finished = True

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    return outcome


def encode(pixels, image_format: str, **options: Any) -> bytes:
    """Encode an array (or PIL image) with Pillow: ``encode(rgb, "JPEG", quality=90)``."""
    import io

    import numpy as np
    from PIL import Image

    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(np.asarray(pixels))
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk with its length and CRC."""
    import struct
    import zlib

    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_bomb(width: int, height: int, *, rows: int | None = None) -> bytes:
    """A grayscale PNG whose header says ``width`` x ``height``, with all-zero pixels compressed by zlib.

    ``rows`` limits the IDAT to that many rows (a few hundred bytes for any size); None writes them all
    (about 1/1000 of ``width * height`` bytes). Built row by row: never allocates the image.
    """
    import struct
    import zlib

    compressor = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0 + zero pixels
    parts = [compressor.compress(row) for _ in range(height if rows is None else rows)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", b"".join(parts))
        + png_chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------- strace: what a process tree wrote and sent

TRACED_SYSCALLS = (
    "open,openat,openat2,creat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,mkdir,mkdirat,"
    "connect,sendto,sendmsg,sendmmsg"
)
_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND", "O_TMPFILE")


def strace_command(log: Path) -> list[str]:
    """Prefix for a command to trace it and all its threads and children (``-s 0``: no data, full paths)."""
    return ["strace", "-f", "-qq", "--seccomp-bpf", "-s", "0", "-e", f"trace={TRACED_SYSCALLS}", "-o", str(log)]


@functools.cache
def strace_available() -> bool:
    import shutil
    import subprocess

    if not shutil.which("strace"):
        return False
    probe = subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat", "-o", "/dev/null", "true"], check=False)
    return probe.returncode == 0


class TraceReport:
    """Files a traced process tree opened for writing (or created), and the addresses it connected or sent to."""

    def __init__(self, text: str) -> None:
        import re

        self.written: list[tuple[str, str]] = []  # (path, syscall + flags)
        self.tmpfiles: list[str] = []  # O_TMPFILE: unnamed files in these folders
        self.destinations: set[str] = set()
        path_call = re.compile(r"\b(open|openat|openat2|creat)\((?:[A-Z_]+|\d+)?,? ?\"([^\"]*)\"(?:, ([A-Z_|0-9]+))?")
        name_call = re.compile(r"\b(rename|renameat2?|link|linkat|symlink|symlinkat|mkdir|mkdirat)\(([^)]*)")
        address = re.compile(r"inet_addr\(\"([^\"]+)\"\)|inet_pton\(AF_INET6, \"([^\"]+)\"")
        for line in text.splitlines():
            if " = -1 " in line:  # failed calls wrote nothing
                continue
            match = path_call.search(line)
            if match:
                call, path, flags = match.group(1), match.group(2), match.group(3) or ""
                if call == "creat" or any(flag in flags.split("|") for flag in _WRITE_FLAGS):
                    if "O_TMPFILE" in flags:
                        self.tmpfiles.append(path)
                    else:
                        self.written.append((path, f"{call} {flags}"))
                continue
            match = name_call.search(line)
            if match:
                paths = re.findall(r"\"([^\"]*)\"", match.group(2))
                if paths:
                    self.written.append((paths[-1], match.group(1)))
                continue
            if any(f"{call}(" in line for call in ("connect", "sendto", "sendmsg", "sendmmsg")):
                for ipv4, ipv6 in address.findall(line):
                    self.destinations.add(ipv4 or ipv6)

    def written_outside(self, allowed: Callable[[str], bool]) -> list[tuple[str, str]]:
        return sorted({(path, how) for path, how in self.written if not allowed(path)})

    def non_local_destinations(self) -> list[str]:
        return sorted(address for address in self.destinations if not is_this_machine(address))


def is_this_machine(address: str) -> bool:
    """Loopback, unspecified, or one of this machine's own interface addresses (traffic that never leaves it)."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if ip.is_loopback or ip.is_unspecified:
        return True
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return is_this_machine(str(ip.ipv4_mapped))
    own = {
        entry.address.split("%")[0] for entries in psutil.net_if_addrs().values() for entry in entries if entry.address
    }
    return str(ip) in own
