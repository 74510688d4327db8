"""The testing kit pointed at python-socketio 5.18.1: examples/adapters/python_socketio.py.

python-socketio's ``Manager`` is held to Socket.IO's reference semantics, except for the two
things it decided otherwise on purpose (it protects id rooms, ``skip_sid`` skips the sender
itself). Its known room defects are expected findings: each is found within 300 examples
from a fixed seed, and reported as readable steps. To find each on its own, the others are
fixed: ``SafeManager`` (examples/adapters/custom_manager.py) is python-socketio's Manager
with one method per fix, and passes; switching one fix off must bring its defect back.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from sansio_rooms.testing import AdapterDefect, check_adapter, replay

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples" / "adapters"))

import custom_manager  # noqa: E402
import python_socketio  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:socketio")


def defect_of(machine: type) -> AdapterDefect:
    with pytest.raises(AdapterDefect) as raised:
        check_adapter(machine, examples=300, seed=0)
    return raised.value


def with_fix_off(fix: str) -> type:
    manager = type("Manager", (custom_manager.SafeManager,), {fix: False})
    return type("CheckManager", (custom_manager.CheckSafeManager,), {"manager_class": manager})


def test_the_adapter_is_at_most_40_lines_and_needs_no_shim() -> None:
    source = (ROOT / "examples" / "adapters" / "python_socketio.py").read_text()
    adapter = source.split("# -- the adapter: 40 lines")[1].split("# -- the check")[0]
    lines = [line for line in adapter.splitlines()[1:] if line.strip() and line.strip()[0] != "#"]
    assert len(lines) <= 40


def test_safe_manager_passes_under_the_same_declarations() -> None:
    check_adapter(custom_manager.CheckSafeManager, examples=300, seed=0)


#: Each expected finding: the fix that hides it, and what its report must say.
FINDINGS = {
    # enter_room() on a socket that is gone: KeyError, and an empty room left behind.
    "fix_gone_join": r"refusal changed the state\n.*\n  actual:   raised KeyError",
    # None taken as a room: python-socketio's own "everybody" room.
    "fix_none_room": r"None",
    # emit(to=0) and emit(to="") reach everybody: `to or room`.
    "fix_falsy_target": r"broadcast\('/(chat)?', rooms=(0|''), .*: recipients",
    # one enter_room() per room: the rooms before a refused one stay joined.
    "fix_atomic_join": r"(join|leave)\(.*\[.*\]\): refusal changed the state",
}


@pytest.mark.parametrize("fix", FINDINGS)
def test_each_known_defect_is_found_as_readable_steps(fix: str) -> None:
    defect = defect_of(with_fix_off(fix))
    report = str(defect)
    assert re.search(FINDINGS[fix], report, re.DOTALL), report
    assert len(defect.steps) <= 6, report
    assert report.startswith("CheckManager: the adapter differs from the reference but")
    assert "Steps, from an empty state:\n  1. connect(" in report
    assert "replay(CheckManager, [" in report
    # The report's steps fail again, the same way, when replayed.
    with pytest.raises(AdapterDefect) as again:
        replay(defect.machine_class, defect.steps)
    assert again.value.key == defect.key


@pytest.mark.parametrize(
    "machine", [python_socketio.CheckManager, python_socketio.CheckAsyncManager]
)
def test_python_socketio_itself_is_reported(machine: type) -> None:
    report = str(defect_of(machine))
    assert "the adapter differs from the reference" in report


def test_the_report_in_the_docs_is_what_the_kit_prints() -> None:
    docs = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    printed = docs.split("**3. Run it**")[1].split("```\n", 2)[1].rstrip("\n")
    assert printed == str(defect_of(python_socketio.CheckManager))


def test_a_leaving_socket_receiving_broadcasts_is_found_where_it_is_a_defect() -> None:
    """python-socketio delivers to a socket whose disconnect handler is running, as Node's
    adapter does to a socket that is *disconnecting* (it is still in ``nsp.sockets``): under
    the reference semantics that is no defect. With the switch that says it is one (this
    library's choice, ``disconnecting_receive=False``), the kit finds it, as readable steps."""
    semantics = custom_manager.CheckSafeManager.semantics.but(disconnecting_receive=False)
    machine = type("CheckManager", (custom_manager.CheckSafeManager,), {"semantics": semantics})
    defect = defect_of(machine)
    report = str(defect)
    assert "disconnecting_receive" in report, report
    assert "begin_disconnect(" in report or "disconnect(" in report, report
    assert len(defect.steps) <= 6, report
    with pytest.raises(AdapterDefect) as again:
        replay(defect.machine_class, defect.steps)
    assert again.value.key == defect.key
