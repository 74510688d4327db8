"""The examples of docs/web.md run, on both bindings, and build what the page says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "web.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


def run_block(index: int, binding: str) -> dict[str, Any]:
    code = BLOCKS[index].replace("sansio_rooms_asyncio", f"sansio_rooms_{binding}")
    namespace: dict[str, Any] = {}
    exec(compile(code, f"{PAGE}:block {index}", "exec"), namespace)
    return namespace


def test_the_page_has_its_examples() -> None:
    assert len(BLOCKS) == 7


@pytest.mark.parametrize("binding", ["asyncio", "trio"])
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_every_example_runs(index: int, binding: str) -> None:
    namespace = run_block(index, binding)
    server = namespace["server"]
    assert type(server).__module__ == f"sansio_rooms_{binding}._server"


@pytest.mark.parametrize("binding", ["asyncio", "trio"])
def test_the_examples_configure_what_they_say(binding: str) -> None:
    hooks = run_block(1, binding)
    server = hooks["server"]
    assert server.allow_request is hooks["not_banned"]
    assert server.handlers.middleware("/") == [hooks["signed_in"]]
    assert server.handlers.get("/", "error") is hooks["refused_packet"]

    origins = run_block(2, binding)
    policy = origins["server"].origins
    assert not policy.any
    assert origins["any_subdomain"].origins.allows("https://a.example", _request("server.test"))

    proxies = run_block(3, binding)["server"].trusted_proxies
    assert proxies.trusts("10.1.2.3") and not proxies.trusts("192.0.2.1")

    mounted = run_block(4, binding)
    routes = {getattr(route, "path", None) for route in mounted["app"].routes}
    assert {"/ws", "/hello"} <= routes

    dynamic = run_block(6, binding)
    assert dynamic["server"].cleanup_empty_child_namespaces
    assert dynamic["server"].handlers.parents() == (dynamic["teams"],)


def _request(host: str) -> Any:
    from sansio_rooms import HandshakeRequest

    return HandshakeRequest(headers={"host": host}, host=host)


@pytest.mark.parametrize("binding", ["asyncio", "trio"])
def test_the_binding_pages_mounting_examples_build_a_mounted_app(binding: str) -> None:
    page = PAGE.parent / f"{binding}.md"
    blocks = [
        block
        for block in re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
        if "FastAPI" in block
    ]
    assert len(blocks) == 1
    namespace: dict[str, Any] = {}
    exec(compile(blocks[0], str(page), "exec"), namespace)
    app, sio_app = namespace["app"], namespace["sio_app"]
    assert type(sio_app).__module__ == f"sansio_rooms_{binding}._asgi"
    assert app.router.lifespan_context is not None
    assert any(getattr(route, "app", None) is sio_app for route in app.routes)
