"""Reading a file the exporter was told to load, without blocking forever or reading without end.

The config, the web config and the simulator's scenarios are files an operator names, and a
reload reads them while the process serves. A FIFO would block ``open`` until a writer comes, a
device (``/dev/zero``) would never end, a stalled network file system blocks ``open`` or
``read`` in the kernel, and a 50 MB file would be parsed for minutes. So: only regular files are
read, their size is checked before reading (and bounded while reading, for files that grow),
and the whole open-and-read runs in a helper thread that the caller stops waiting for after a
time limit. A thread stuck in the kernel cannot be cancelled; it is a daemon, so it never holds
up shutdown, and the caller carries on with a one-line error.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Callable

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_READ_TIMEOUT", "RefusedFile", "read_bytes", "read_text"]

# Far above any real fleet: a 200,000-stream config is about 3 MB.
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
DEFAULT_READ_TIMEOUT = 10.0

_MIB = 1024 * 1024
_CHUNK = _MIB

_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class RefusedFile(OSError):
    """A file refused before or while reading it; ``strerror`` words why, as for any OSError."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)


def _mib(count: int) -> str:
    return f"{count} bytes" + (f" ({count // _MIB} MiB)" if count % _MIB == 0 else "")


def _check_mode(mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
    if not stat.S_ISREG(mode):
        what = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise RefusedFile(errno.EINVAL, f"{what}, not a regular file")


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise RefusedFile(
            errno.EFBIG, f"the file is {size} bytes, over the limit of {_mib(max_bytes)}"
        )


def _read_bytes(path: str, max_bytes: int) -> bytes:
    # stat first: opening some devices has side effects (a tape rewinds, a tty becomes ours).
    _check_mode(os.stat(path).st_mode)
    # O_NONBLOCK: if the path became a FIFO since the stat, open() returns instead of waiting.
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        _check_mode(info.st_mode)
        _check_size(info.st_size, max_bytes)
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - total))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # the file grew while being read
                _check_size(total, max_bytes)
    finally:
        os.close(fd)


def read_bytes(
    path: str | os.PathLike[str],
    max_bytes: int = DEFAULT_MAX_BYTES,
    *,
    timeout: float = DEFAULT_READ_TIMEOUT,
) -> bytes:
    """The bytes of the regular file ``path``; an OSError otherwise, whose ``strerror`` says why.

    Besides the usual ones (FileNotFoundError, PermissionError, IsADirectoryError):
    ``RefusedFile`` for a FIFO, a device or a socket (``a FIFO, not a regular file``) and for a
    file over ``max_bytes`` (``the file is 40000000 bytes, over the limit of 33554432 bytes
    (32 MiB)``), TimeoutError when open-and-read takes over ``timeout`` seconds (``no answer
    within 10s``).
    """
    source = os.fspath(path)
    outcome: list[bytes | BaseException] = []

    def work() -> None:
        try:
            outcome.append(_read_bytes(source, max_bytes))
        except BaseException as exc:  # handed to the waiting thread, which raises it
            outcome.append(exc)

    reader = threading.Thread(target=work, name="read file", daemon=True)
    reader.start()
    reader.join(timeout)
    if not outcome:
        reason = f"no answer within {timeout:g}s (a stalled network file system?)"
        raise TimeoutError(errno.ETIMEDOUT, reason)
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def read_text(
    path: str | os.PathLike[str],
    what: str,
    error: Callable[[str], Exception],
    max_bytes: int = DEFAULT_MAX_BYTES,
    *,
    timeout: float = DEFAULT_READ_TIMEOUT,
) -> str:
    """The UTF-8 text of the regular file ``path`` (see read_bytes), or ``error`` with one line.

    The line reads ``<path>: cannot read <what>: <reason>``, the reason as read_bytes words it,
    or ``not UTF-8 (byte 18)``.
    """
    source = os.fspath(path)

    def fail(reason: str) -> Exception:
        return error(f"{source}: cannot read {what}: {reason}")

    try:
        data = read_bytes(source, max_bytes, timeout=timeout)
    except OSError as exc:
        raise fail(exc.strerror or str(exc)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 (byte {exc.start})") from None
