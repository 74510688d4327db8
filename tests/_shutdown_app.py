"""The application ``tests/test_shutdown.py`` serves in a subprocess, with the ASGI server's
own command line (``uvicorn tests._shutdown_app:app``, ``hypercorn -k trio
tests._shutdown_app:app``), as users run it.

``SANSIO_ROOMS_SHUTDOWN_BINDING`` (``asyncio`` or ``trio``) chooses the binding. The server
has the default options (``ping_interval`` 25 s: a parked long-polling GET stays parked) and
no handlers: the default namespace accepts every client, which is all the test needs.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["BINDING_VARIABLE", "app"]

BINDING_VARIABLE = "SANSIO_ROOMS_SHUTDOWN_BINDING"

_binding = os.environ.get(BINDING_VARIABLE)
app: Any
if _binding == "asyncio":
    import sansio_rooms_asyncio

    app = sansio_rooms_asyncio.ASGIApp(sansio_rooms_asyncio.AsyncServer())
elif _binding == "trio":
    import sansio_rooms_trio

    app = sansio_rooms_trio.ASGIApp(sansio_rooms_trio.AsyncServer())
else:
    raise RuntimeError(f"set {BINDING_VARIABLE} to 'asyncio' or 'trio', not {_binding!r}")
