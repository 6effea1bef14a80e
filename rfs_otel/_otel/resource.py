"""One resource for every worker of a pre-fork server: a ``service.instance.id`` shared through the directory.

Each worker would otherwise export its own random ``service.instance.id`` (the SDK also draws a new one after
every fork), so a scrape of the aggregated values would show a different ``target_info`` each time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import uuid
from pathlib import Path

from opentelemetry.sdk.resources import Resource

__all__ = ["INSTANCE_ID_FILE", "shared_instance_id", "with_shared_instance_id"]

#: The file in the multiprocess directory holding the server's ``service.instance.id``.
INSTANCE_ID_FILE = ".service-instance-id"
_KEY = "service.instance.id"
_MAX_ID = 128
_log = logging.getLogger("rfs_otel")


def _read_id(path: Path) -> str | None:
    """The id in ``path``, or None when it is absent or not an id (never blocks on a FIFO, never reads a device)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        text = os.read(fd, _MAX_ID + 1).decode("ascii", "replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)
    return text if 0 < len(text) <= _MAX_ID and text.isprintable() else None


def shared_instance_id(directory: Path) -> str:
    """The id the first worker wrote to ``directory`` (written now if none did; a race is settled by ``link``)."""
    final = directory / INSTANCE_ID_FILE
    found = _read_id(final)
    if found is not None:
        return found
    candidate = directory / f".{INSTANCE_ID_FILE}.{os.getpid()}.{uuid.uuid4().hex}"
    try:
        candidate.write_bytes(str(uuid.uuid4()).encode())  # bytes: a text file's codec lookup may import a module
        os.link(candidate, final)  # atomic: exactly one worker's complete file becomes the id
    except FileExistsError:
        pass
    except OSError as exc:  # a full disk or a read-only directory must not stop the service
        _log.warning("cannot write %s (%s); this worker exports its own service.instance.id", final, exc)
    finally:
        with contextlib.suppress(OSError):
            candidate.unlink(missing_ok=True)
    found = _read_id(final)
    if found is None:  # something else sits where the id belongs: this worker keeps an id of its own
        _log.warning("%s is not a service.instance.id; this worker exports its own", final)
        return str(uuid.uuid4())
    return found


def with_shared_instance_id(resource: Resource, directory: Path) -> Resource:
    """``resource`` with the server's shared ``service.instance.id``, unless the user set one."""
    if _KEY in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        return resource
    return resource.merge(Resource({_KEY: shared_instance_id(directory)}))
