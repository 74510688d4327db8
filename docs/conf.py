"""Sphinx configuration: the documentation site (`make docs`, warnings are errors).

The pages are the Markdown files of this directory (MyST); the API reference comes from the
docstrings of the three packages (autodoc); the pictures are drawn from the code when the site
is built (``_ext/diagrams.py``, shown by the ``diagram`` directive of ``_ext/sansio_sphinx.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# The packages are installed in editable mode by the Makefile; the extensions live here.
sys.path[:0] = [str(DOCS / "_ext"), str(ROOT)]

import sansio_rooms  # noqa: E402

project = "sansio-rooms"
author = "the sansio-rooms authors"
copyright = "the sansio-rooms authors"
release = sansio_rooms.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sansio_sphinx",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# MyST: GitHub-style anchors for the pages' links to each other's sections (`web.md#logging`).
myst_heading_anchors = 4

# autodoc: members in source order; signatures keep the annotations, shortened.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"sansio-rooms {release}"
html_static_path = ["_static"]
html_css_files = ["diagrams.css"]
html_show_sourcelink = False
html_copy_source = False
