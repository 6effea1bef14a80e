"""Files of doubles mapped into memory without holding a descriptor, and their in-memory stand-in."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import mmap
import os
import weakref
from array import array
from pathlib import Path
from typing import Any

from ._layout import DOUBLE

__all__ = ["Mapped", "Memory"]

_FALLOCATE_UNSUPPORTED = frozenset({errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS})


def _reserve(fd: int, size: int) -> None:
    """Give the file ``size`` bytes of real blocks: a full disk fails here (ENOSPC), never as SIGBUS on a write."""
    allocate = getattr(os, "posix_fallocate", None)
    if allocate is not None:
        try:
            allocate(fd, 0, size)
            return
        except OSError as exc:
            if exc.errno not in _FALLOCATE_UNSUPPORTED:
                raise
    os.ftruncate(fd, size)


def _libc_mmap() -> Any:
    """libc's mmap and munmap through ctypes, or None where that is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long)
        libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc_mmap()
_MAP_FAILED = ctypes.c_void_p(-1).value


def _map_shared(fd: int, size: int) -> Any:
    """A writable shared mapping of ``fd`` as a memoryview of doubles that does not hold ``fd`` open.

    Python's ``mmap.mmap`` keeps a duplicate of the descriptor for as long as the mapping lives (until 3.13's
    ``trackfd=False``), so libc's mmap is called directly; the mapping is unmapped when its last view is freed.
    """
    if _LIBC is None:
        return memoryview(mmap.mmap(fd, size)).cast("d")
    address = _LIBC.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, fd, 0)
    if address is None or address == _MAP_FAILED:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    memory = (ctypes.c_char * size).from_address(address)
    # never at exit: a daemon thread may still be recording into it while the interpreter shuts down
    weakref.finalize(memory, _LIBC.munmap, address, size).atexit = False
    return memoryview(memory).cast("B").cast("d")


class Mapped:
    """A file of doubles mapped into memory; its descriptor is closed once mapped (the mapping stays valid)."""

    def __init__(self, path: Path, doubles: int) -> None:
        self.path = path
        self.capacity = 0
        self.view: Any = memoryview(array("d"))
        try:
            self._map(doubles, os.O_TRUNC)  # ours alone: whatever an earlier process of this pid left is dropped
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink()  # no empty file left behind
            raise

    def grow(self, doubles: int) -> None:
        """Remap with room for ``doubles`` (views of the old mapping stay valid: both map the same file)."""
        if doubles > self.capacity:
            self._map(doubles, 0)

    def _map(self, doubles: int, flags: int) -> None:
        capacity = max(64, 1 << (doubles - 1).bit_length())
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | flags, 0o644)
        try:
            _reserve(fd, capacity * DOUBLE)
            view = _map_shared(fd, capacity * DOUBLE)
        finally:
            os.close(fd)
        self.view = view
        self.capacity = capacity


class Memory:
    """Doubles in process memory: where gauges go when their file cannot be created or grown."""

    def __init__(self, values: list[float], doubles: int) -> None:
        self.capacity = max(doubles, len(values))
        self.view: Any = memoryview(array("d", values + [0.0] * (self.capacity - len(values))))

    def grow(self, doubles: int) -> None:
        if doubles > self.capacity:
            values = list(self.view)
            self.capacity = max(doubles, 2 * self.capacity)
            self.view = memoryview(array("d", values + [0.0] * (self.capacity - len(values))))
