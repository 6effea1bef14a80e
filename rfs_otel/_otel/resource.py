"""One resource for every worker of a pre-fork server: a ``service.instance.id`` shared through the directory.

Each worker would otherwise export its own random ``service.instance.id`` (the SDK also draws a new one after
every fork), so a scrape of the aggregated values would show a different ``target_info`` each time.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from opentelemetry.sdk.resources import Resource

__all__ = ["INSTANCE_ID_FILE", "shared_instance_id", "with_shared_instance_id"]

#: The file in the multiprocess directory holding the server's ``service.instance.id``.
INSTANCE_ID_FILE = ".service-instance-id"
_KEY = "service.instance.id"


def shared_instance_id(directory: Path) -> str:
    """The id the first worker wrote to ``directory`` (written now if none did; a race is settled by ``link``)."""
    final = directory / INSTANCE_ID_FILE
    try:
        text = final.read_text(encoding="ascii").strip()
        if text:
            return text
    except FileNotFoundError:
        pass
    candidate = directory / f".{INSTANCE_ID_FILE}.{os.getpid()}.{uuid.uuid4().hex}"
    candidate.write_text(str(uuid.uuid4()), encoding="ascii")
    try:
        os.link(candidate, final)  # atomic: exactly one worker's complete file becomes the id
    except FileExistsError:
        pass
    finally:
        candidate.unlink(missing_ok=True)
    return final.read_text(encoding="ascii").strip()


def with_shared_instance_id(resource: Resource, directory: Path) -> Resource:
    """``resource`` with the server's shared ``service.instance.id``, unless the user set one."""
    if _KEY in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        return resource
    return resource.merge(Resource({_KEY: shared_instance_id(directory)}))
