"""The state tables in the docs are drawn from the code's transition tables: a transition
added or removed in the code and not in the docs (or the other way round) fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sansio_rooms import SESSION_TRANSITIONS, TRANSITIONS

DOCS = Path(__file__).resolve().parent.parent / "docs"
HEADER = "| state | input | next state |"


def rows(table: dict[tuple[Any, Any], Any]) -> list[str]:
    return [
        f"| {state.value} | {event.value} | {'gone' if after is None else after.value} |"
        for (state, event), after in table.items()
    ]


def documented(page: str) -> list[str]:
    """The rows of the page's state table (the one under HEADER)."""
    lines = (DOCS / page).read_text().splitlines()
    start = lines.index(HEADER) + 2  # past the header and its |---| line
    table = []
    for line in lines[start:]:
        if not line.startswith("| "):
            break
        table.append(line)
    return table


def test_the_socket_states_of_the_engine_page() -> None:
    assert documented("engine.md") == rows(TRANSITIONS)


def test_the_session_states_of_the_protocol_page() -> None:
    assert documented("protocol.md") == rows(SESSION_TRANSITIONS)
