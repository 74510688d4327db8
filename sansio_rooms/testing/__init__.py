"""The testing kit: hypothesis strategies, a reference model, a stateful machine, a harness.

Needs hypothesis (from a checkout: ``pip install -e '.[testing]'``); ``import sansio_rooms``
alone never imports it. See docs/testing.md.
"""

try:
    import hypothesis as _hypothesis  # noqa: F401 - only to say what is missing, and how to get it
except ModuleNotFoundError as missing:  # pragma: no cover - tests/test_packaging.py, a subprocess
    raise ModuleNotFoundError(
        "sansio_rooms.testing needs hypothesis: pip install 'sansio-rooms[testing]' "
        "(from a checkout: pip install -e '.[testing]')",
        name=missing.name,
    ) from missing

from ._adapter import CAPABILITIES as CAPABILITIES
from ._adapter import AckAdapter as AckAdapter
from ._adapter import BulkAdapter as BulkAdapter
from ._adapter import EngineAdapter as EngineAdapter
from ._adapter import PendingAdapter as PendingAdapter
from ._adapter import RoomsAdapter as RoomsAdapter
from ._adapter import StatesAdapter as StatesAdapter
from ._harness import Harness as Harness
from ._harness import Notice as Notice
from ._harness import sequential_ids as sequential_ids
from ._machine import RoomsStateMachine as RoomsStateMachine
from ._model import DEFAULT_REASON as DEFAULT_REASON
from ._model import ReferenceModel as ReferenceModel
from ._report import AdapterDefect as AdapterDefect
from ._report import check_adapter as check_adapter
from ._report import replay as replay
from ._semantics import REFERENCE as REFERENCE
from ._semantics import STRICT as STRICT
from ._semantics import Semantics as Semantics
from ._steps import Step as Step
from ._steps import op as op
from ._strategies import INVALID_KINDS as INVALID_KINDS
from ._strategies import events as events
from ._strategies import invalid_room_names as invalid_room_names
from ._strategies import namespaces as namespaces
from ._strategies import operation_sequences as operation_sequences
from ._strategies import room_names as room_names
from ._strategies import socket_ids as socket_ids

__all__ = [
    "CAPABILITIES",
    "DEFAULT_REASON",
    "INVALID_KINDS",
    "REFERENCE",
    "STRICT",
    "AckAdapter",
    "AdapterDefect",
    "BulkAdapter",
    "EngineAdapter",
    "Harness",
    "Notice",
    "PendingAdapter",
    "ReferenceModel",
    "RoomsAdapter",
    "RoomsStateMachine",
    "Semantics",
    "StatesAdapter",
    "Step",
    "check_adapter",
    "events",
    "invalid_room_names",
    "namespaces",
    "op",
    "operation_sequences",
    "replay",
    "room_names",
    "sequential_ids",
    "socket_ids",
]
