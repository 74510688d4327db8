"""The site's Sphinx extension: the pictures drawn from the code, and the API reference.

* ``diagram`` directive (MyST: ```` ```{diagram} socket-states ```` ````): the SVG of one of
  :data:`diagrams.DIAGRAMS`, drawn when the page is built and put inline in the page;
* ``api-module`` directive: the reference of one public module, every name of its
  ``__all__`` through autodoc. The core's names are grouped by the private module that
  defines them (titled from that module's docstring); a binding's names that are the core's
  own objects are listed as re-exports, linking to the core's entry (documented once);
* links from a page to a file or directory of the repository outside ``docs/`` (read on
  GitHub, they lead there): on the site they are shown as their text, without a link. A
  link to a path that exists nowhere still fails the build.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import re
from pathlib import Path
from typing import Any, ClassVar

import diagrams
from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

CORE = "sansio_rooms"

#: The order of the core's sections: the engine first, then the protocol, the server, the
#: bindings' shared parts, the cluster. A module missing here comes last, in import order.
SECTION_ORDER = (
    "_engine",
    "_state",
    "_names",
    "_events",
    "_outputs",
    "_errors",
    "_engineio",
    "_socketio",
    "_engineio_server",
    "_server",
    "_driver",
    "_app",
    "_requests",
    "_asgi",
    "_transport_driver",
    "_engineio_driver",
    "_cluster",
    "_cluster_outputs",
    "_cluster_driver",
    "_cluster_wire",
    "_emitter",
    "_resp",
    "_compat",
    "_compat_server",
)


class DiagramDirective(SphinxDirective):
    """```` ```{diagram} NAME ```` ````: the picture NAME, drawn now, inline."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        if name not in diagrams.DIAGRAMS:
            known = ", ".join(sorted(diagrams.DIAGRAMS))
            raise self.error(f"unknown diagram {name!r} (known: {known})")
        # The pictures read the code and docs/benchmarks.md: rebuild the page when they change.
        for path in diagrams.SOURCES[name]:
            self.env.note_dependency(str(path))
        picture = diagrams.DIAGRAMS[name]()
        # Scaled to the column, but never below 80 % of its size: a wide one scrolls.
        width = re.search(r'<svg [^>]*?\bwidth="(\d+)', picture.svg)
        floor = f"min-width: {int(width[1]) * 0.8:.0f}px" if width else ""
        svg = picture.svg.replace("<svg ", f'<svg style="{floor}" ', 1)
        html = (
            f'<figure class="sansio-diagram" id="diagram-{name}">'
            f'<div class="sansio-diagram-scroll">{svg}</div>'
            f"<figcaption>{picture.caption_html}</figcaption></figure>"
        )
        return [nodes.raw("", html, format="html")]


def _title(module: Any) -> tuple[str, str]:
    """A section title from a module's docstring (its first line, up to a colon), and the
    whole first line."""
    first = (inspect.getdoc(module) or module.__name__).splitlines()[0].strip()
    plain = first.replace("``", "")
    head, colon, _ = plain.partition(": ")
    return (head if colon else plain.rstrip(".")), first


def _defining_module(package: Any, name: str) -> str:
    """The private module of ``package`` whose ``__all__`` lists ``name``."""
    obj = getattr(package, name)
    module = getattr(obj, "__module__", None)
    if (
        (inspect.isclass(obj) or inspect.isfunction(obj))
        and isinstance(module, str)
        and module.startswith(package.__name__ + ".")
    ):
        return module
    for submodule in _private_modules(package):
        if name in getattr(submodule, "__all__", ()):
            return str(submodule.__name__)
    raise LookupError(f"{package.__name__}.{name}: no module of the package exports it")


def _private_modules(package: Any) -> list[Any]:
    seen: dict[str, Any] = {}
    for value in vars(package).values():
        module = getattr(value, "__module__", None)
        if isinstance(module, str) and module.startswith(package.__name__ + "._"):
            seen.setdefault(module, importlib.import_module(module))
    for module_name in re.findall(
        r"^from \.(_\w+) import", inspect.getsource(package), flags=re.MULTILINE
    ):
        full = f"{package.__name__}.{module_name}"
        seen.setdefault(full, importlib.import_module(full))
    return list(seen.values())


def _entry(package: Any, name: str) -> list[str]:
    """The autodoc directive for one public name of ``package``."""
    obj = getattr(package, name)
    qualified = f"{package.__name__}.{name}"
    if inspect.isclass(obj):
        if issubclass(obj, enum.Enum):
            return [f".. autoclass:: {qualified}", "   :members:", "   :undoc-members:", ""]
        return [f".. autoclass:: {qualified}", ""]
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return [f".. autofunction:: {qualified}", ""]
    return _data_entry(package, name, obj)


def _data_entry(package: Any, name: str, obj: Any) -> list[str]:
    """A constant or type alias: its ``#:`` comment is in the private module that defines
    it, which autodoc would not read (it would show the docstring of the value's type)."""
    defining = _defining_module(package, name)
    comments = ModuleAnalyzer.for_module(defining).find_attr_docs().get(("", name), [])
    lines = [f".. py:data:: {name}", f"   :module: {package.__name__}"]
    if type(obj).__module__ in ("typing", "types") or isinstance(obj, str | int | float):
        value = re.sub(r"\b(?:typing|collections\.abc|sansio_rooms\._\w+)\.", "", repr(obj))
        lines.append(f"   :value: {value}")
    lines.append("")
    lines += [f"   {line}" for line in comments if line.strip()] or ["   (no description)"]
    return [*lines, ""]


def _core_object(obj: Any) -> str | None:
    """The core's public name of ``obj``, if the core exports this very object."""
    core = importlib.import_module(CORE)
    for name in core.__all__:
        if getattr(core, name) is obj:
            return f"{CORE}.{name}"
    return None


class ApiModuleDirective(SphinxDirective):
    """```` ```{api-module} PACKAGE ```` ````: every public name of PACKAGE, with autodoc.

    ``:sections:`` groups the names by the private module defining them."""

    required_arguments = 1
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {"sections": directives.flag}

    def run(self) -> list[nodes.Node]:
        module_name = self.arguments[0]
        package = importlib.import_module(module_name)
        self.env.note_dependency(str(inspect.getfile(package)))
        names = list(package.__all__)
        lines = [f".. automodule:: {module_name}", "   :no-members:", ""]
        own: list[str] = []
        reexported: list[tuple[str, str]] = []
        for name in names:
            core_name = None if module_name == CORE else _core_object(getattr(package, name))
            if core_name is None or module_name.startswith(CORE + "."):
                own.append(name)
            else:
                reexported.append((name, core_name))
        if "sections" in self.options:
            groups: dict[str, list[str]] = {}
            for name in own:
                groups.setdefault(_defining_module(package, name), []).append(name)
            order = [f"{module_name}.{short}" for short in SECTION_ORDER]
            ranked = sorted(groups, key=lambda m: order.index(m) if m in order else len(order))
            for defining in ranked:
                title, first = _title(importlib.import_module(defining))
                lines += [title, "-" * len(title), ""]
                if first.replace("``", "").rstrip(".") != title:
                    lines += [first, ""]
                for name in groups[defining]:
                    lines += _entry(package, name)
        else:
            for name in own:
                lines += _entry(package, name)
        if reexported:
            lines += [
                f"**Re-exported from** :py:mod:`{CORE}`: ``{module_name}`` also offers these "
                "objects of the core, documented there:",
                "",
            ]
            for name, core_name in reexported:
                kind = "func" if inspect.isfunction(getattr(package, name)) else "class"
                alias = "" if core_name.endswith("." + name) else f" (as ``{name}``)"
                lines.append(f"* :py:{kind}:`{core_name}`{alias}")
            lines.append("")
        # The pages are Markdown (MyST), autodoc's directives and the docstrings are
        # reStructuredText: parsed as MyST's ``eval-rst`` block would be.
        fence = "`" * 4
        block = [f"{fence}{{eval-rst}}", *lines, fence]
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, StringList(block, source=module_name), container)
        return list(container.children)


class RepositoryPaths(SphinxPostTransform):
    """A MyST link to a path of the repository outside the site (``../examples/x``): its
    text, without a link. Runs before MyST resolves its links (priority 9)."""

    default_priority = 8

    def run(self, **kwargs: Any) -> None:
        docs = Path(self.app.srcdir)
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("reftype") != "myst":
                continue
            target = str(node.get("reftarget", "")).partition("#")[0]
            page = docs / str(node.get("refdoc", self.env.docname))
            path = (page.parent / target).resolve()
            if (
                not target
                or "://" in target
                or path.is_relative_to(docs)
                or not path.is_relative_to(docs.parent)
                or not path.exists()
            ):
                continue
            shown = nodes.inline(classes=["repository-path"])
            shown.extend(child.deepcopy() for child in node.children)
            node.replace_self(shown)


def _public_bases(app: Sphinx, name: str, obj: Any, options: Any, bases: list[Any]) -> None:
    """``Bases: object`` says nothing, a private base (``_LoopServer``) cannot be looked up:
    both left out."""
    bases[:] = [
        base
        for base in bases
        if base is not object and not getattr(base, "__name__", "").startswith("_")
    ]


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("autodoc-process-bases", _public_bases)
    app.add_post_transform(RepositoryPaths)
    app.add_directive("diagram", DiagramDirective)
    app.add_directive("api-module", ApiModuleDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
