"""What the three packages ship besides their code: the licence, the metadata and readme of
the bindings, their documented extras, ``__version__``, and a clear error from the testing
kit when hypothesis is not installed."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import sansio_rooms
import sansio_rooms_asyncio
import sansio_rooms_trio

ROOT = Path(__file__).resolve().parent.parent
#: Each package's folder (where its pyproject.toml is) and its module.
PACKAGES: dict[Path, ModuleType] = {
    ROOT: sansio_rooms,
    ROOT / "bindings" / "asyncio": sansio_rooms_asyncio,
    ROOT / "bindings" / "trio": sansio_rooms_trio,
}
BINDINGS = [folder for folder in PACKAGES if folder != ROOT]
#: The extras each binding documents: its ASGI server, and the Redis adapter.
EXTRAS = {"asyncio": {"uvicorn", "redis"}, "trio": {"hypercorn", "redis"}}


def project(folder: Path) -> dict[str, Any]:
    table: dict[str, Any] = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    return table


@pytest.mark.parametrize("folder", PACKAGES, ids=lambda folder: folder.name)
def test_version_is_the_pyprojects(folder: Path) -> None:
    assert PACKAGES[folder].__version__ == project(folder)["version"]


def test_the_licence_is_mit_and_every_package_ships_it() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the sansio-rooms authors" in text
    for folder in PACKAGES:
        metadata = project(folder)
        assert metadata["license"] == "MIT", folder
        assert metadata["license-files"] == ["LICENSE"], folder
        # A package is built from its own folder: each binding carries a copy.
        assert (folder / "LICENSE").read_text() == text, folder


@pytest.mark.parametrize("folder", BINDINGS, ids=lambda folder: folder.name)
def test_a_binding_describes_itself(folder: Path) -> None:
    metadata = project(folder)
    loop = folder.name
    assert loop in metadata["description"]
    assert metadata["readme"] == "README.md"
    readme = (folder / "README.md").read_text()
    assert readme.startswith(f"# {metadata['name']}\n")
    assert metadata["requires-python"] == project(ROOT)["requires-python"]
    classifiers = metadata["classifiers"]
    assert ("Framework :: AsyncIO" if loop == "asyncio" else "Framework :: Trio") in classifiers
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3 :: Only" in classifiers
    # The licence is the SPDX expression; a licence classifier beside it is an error.
    assert not [c for c in classifiers if c.startswith("License ::")]


@pytest.mark.parametrize("folder", BINDINGS, ids=lambda folder: folder.name)
def test_the_extras_are_documented_in_the_readme_and_the_pyproject(folder: Path) -> None:
    metadata = project(folder)
    extras = set(metadata["optional-dependencies"])
    assert extras == EXTRAS[folder.name]
    readme = (folder / "README.md").read_text()
    documented = set(re.findall(r"^\| `(\w+)` \|", readme, re.M))
    assert documented == extras
    pyproject = (folder / "pyproject.toml").read_text()
    assert f"pip install '{metadata['name']}[" in pyproject
    for extra in extras:
        assert f"\n# {extra}: " in pyproject, f"no comment on the {extra} extra"


@pytest.mark.parametrize("folder", BINDINGS, ids=lambda folder: folder.name)
def test_the_readmes_server_is_an_app_of_its_binding(folder: Path) -> None:
    binding = PACKAGES[folder]
    readme = (folder / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert len(blocks) == 1
    namespace: dict[str, Any] = {}
    exec(compile(blocks[0], str(folder / "README.md"), "exec"), namespace)
    assert type(namespace["app"]) is binding.ASGIApp
    assert namespace["app"].server is namespace["server"]


def test_the_testing_kit_without_hypothesis_says_how_to_install_it() -> None:
    """Hypothesis is hidden by an import hook in a fresh interpreter: the core imports, the
    testing kit fails with a message naming the install command."""
    code = textwrap.dedent(
        """
        import sys

        class NoHypothesis:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "hypothesis":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NoHypothesis())
        import sansio_rooms
        try:
            import sansio_rooms.testing
        except ImportError as error:
            print(type(error).__name__, error.name, error, sep="|")
        else:
            print("imported")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == (
        "ModuleNotFoundError|hypothesis|sansio_rooms.testing needs hypothesis: "
        "pip install 'sansio-rooms[testing]' (from a checkout: pip install -e '.[testing]')"
    )
