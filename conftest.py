"""``make test``'s progress: with ``--progress-by-file``, one line per test file once its last
test has run, with its count and the time into the run.

With pytest-xdist's workers (``-n``) the dots say how many tests ran, not where the run is;
these lines do, whichever worker ran the file.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--progress-by-file",
        action="store_true",
        help="print a line per test file once all its tests have run",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--progress-by-file") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(FileProgress(config), "file-progress")


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


class FileProgress:
    """Counts each file's tests at collection, and reports a file when as many have ended."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.totals: Counter[str] = Counter()
        self.ended: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.started = time.monotonic()
        self.counted = False

    def _count(self, nodeids: Any) -> None:
        if not self.counted:  # every worker collects the same tests: count them once
            self.counted = True
            self.totals.update(_file_of(nodeid) for nodeid in nodeids)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self._count(item.nodeid for item in items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self._count(ids)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed[_file_of(report.nodeid)] += 1
        if report.when != "teardown":
            return
        name = _file_of(report.nodeid)
        self.ended[name] += 1
        if self.ended[name] == self.totals[name]:
            failed = self.failed[name]
            outcome = f", {failed} failed" if failed else ""
            elapsed = time.monotonic() - self.started
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.ensure_newline()
                reporter.write_line(
                    f"{name}: {self.totals[name]} tests{outcome} ({elapsed:.0f} s into the run)"
                )
