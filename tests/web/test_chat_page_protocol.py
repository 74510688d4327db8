"""The chat example (examples/chat_server.py, the server of ``make serve``) at the protocol
level: what the page does in a browser (test_chat_page_browser.py), done by real clients,
the official JavaScript one and python-socketio's, on both bindings (uvicorn, hypercorn).

Connect, join (twice), say, whisper, leave, disconnect; and what the server must refuse
rather than let a client pretend: saying to a room one is not in, whispering to a room,
joining someone's id room. "Did not receive" is checked after a fence: a later event on the
same connection, sent after what must not have come.
"""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any

import aiohttp
from _chat_page import ROOT, WEB, ChatApp, client_js
from _web_clients import PYTHON_CLIENT_LEAK, Web, run

pytestmark = PYTHON_CLIENT_LEAK


def people(*clients: Any) -> list[dict[str, str]]:
    """The members list the server sends: ``{"sid", "name"}``, sorted by name."""
    found = [{"sid": client.sids["/"], "name": client.name} for client in clients]
    return sorted(found, key=lambda person: person["name"])


def refusal(answer: Any) -> str:
    assert isinstance(answer, dict), answer
    assert answer["ok"] is False, answer
    error: str = answer["error"]
    return error


def test_the_chat_scenario(binding: str, node: str, client_kind: str) -> None:
    async def scenario(web: Web) -> None:
        chat = ChatApp(binding)
        async with web.serve(chat, before_stop=chat.stop) as served:

            async def person(name: str) -> Any:
                return await web.connect(
                    client_kind, served.url, "upgrade", auth={"name": name}, name=name
                )

            ann, bob, cid = [await person(name) for name in ("ann", "bob", "cid")]
            assert await chat.sids(served) == sorted(c.sids["/"] for c in (ann, bob, cid))

            # join: the answer lists the members, the joiner included; the room is told.
            assert await ann.call1("join", "lobby") == {
                "ok": True,
                "room": "lobby",
                "members": people(ann),
            }
            assert await bob.call1("join", "lobby") == {
                "ok": True,
                "room": "lobby",
                "members": people(ann, bob),
            }
            bob_person = people(bob)[0]
            assert await ann.wait_event("joined") == [{"room": "lobby", **bob_person}]
            members = await ann.wait_event("members", count=2)
            assert members == [{"room": "lobby", "members": people(ann, bob)}]
            # Joining again changes nothing: nobody is listed twice, nobody is told.
            assert await ann.call1("join", "lobby") == {
                "ok": True,
                "room": "lobby",
                "members": people(ann, bob),
            }
            # A socket's id room is private: joining it would read its whispers.
            assert "private" in refusal(await ann.call1("join", bob.sids["/"]))
            assert "private" in refusal(await ann.call1("join", ann.sids["/"]))
            assert "characters" in refusal(await ann.call1("join", "  "))
            assert await cid.call1("join", "secret") == {
                "ok": True,
                "room": "secret",
                "members": people(cid),
            }

            # say: to the room's others; refused (heard by nobody) for a room one is not in.
            assert await ann.call1("say", "lobby", "hello") == {"ok": True}
            assert await bob.wait_event("message") == [
                {"room": "lobby", "sid": ann.sids["/"], "from": "ann", "text": "hello"}
            ]
            assert "not in secret" in refusal(await bob.call1("say", "secret", "eavesdrop"))
            assert "not in" in refusal(await bob.call1("say", bob.sids["/"], "to myself"))

            # whisper: to one person; a room's name, oneself, a stranger are refused.
            answer = await bob.call1("whisper", ann.sids["/"], "psst")
            assert answer == {"ok": True, "to": "ann"}
            assert await ann.wait_event("whisper") == [
                {"sid": bob.sids["/"], "from": "bob", "text": "psst"}
            ]
            assert "nobody" in refusal(await bob.call1("whisper", "lobby", "to the room"))
            assert "nobody" in refusal(await bob.call1("whisper", "no-such-sid", "hello?"))
            assert "you" in refusal(await bob.call1("whisper", bob.sids["/"], "me"))

            # Fences: what ann and cid must not have received came before these.
            await bob.call1("say", "lobby", "fence")
            await ann.wait_event("message")
            assert ann.events("message") == [
                [{"room": "lobby", "sid": bob.sids["/"], "from": "bob", "text": "fence"}]
            ]
            assert len(ann.events("joined")) == 1
            assert len(ann.events("members")) == 2
            assert ann.events("whisper") == [
                [{"sid": bob.sids["/"], "from": "bob", "text": "psst"}]
            ]
            assert bob.events("message") == [
                [{"room": "lobby", "sid": ann.sids["/"], "from": "ann", "text": "hello"}]
            ]
            await bob.call1("whisper", cid.sids["/"], "fence")
            await cid.wait_event("whisper")
            assert cid.events("message") == []
            assert cid.events("joined") == []

            # leave: the room is told and its members updated; then one is out of it.
            assert await bob.call1("leave", "lobby") == {"ok": True, "room": "lobby"}
            assert await ann.wait_event("left") == [
                {"room": "lobby", **bob_person, "reason": "leave"}
            ]
            assert await ann.wait_event("members", count=3) == [
                {"room": "lobby", "members": people(ann)}
            ]
            assert "not in lobby" in refusal(await bob.call1("leave", "lobby"))
            assert "not in lobby" in refusal(await bob.call1("say", "lobby", "still here?"))

            # disconnect: each room of the leaver is told, while its rooms are intact.
            await ann.call1("join", "secret")
            await cid.wait_event("members", count=2)
            await ann.close()
            [left] = await cid.wait_event("left")
            # python-socketio closes its connection as it sends the DISCONNECT packet: the
            # server may see either first.
            assert left.pop("reason") in ("client namespace disconnect", "transport close")
            assert left == {"room": "secret", **people(ann)[0]}
            assert await cid.wait_event("members", count=3) == [
                {"room": "secret", "members": people(cid)}
            ]
            assert await chat.sids(served) == sorted(c.sids["/"] for c in (bob, cid))

    run(binding, scenario, node=node)


def test_the_page_its_icon_and_its_client_are_served(binding: str) -> None:
    """``/`` is the page, ``/favicon.ico`` an icon (it was a 404), ``/socket.io.min.js`` the
    browser client."""

    async def scenario(web: Web) -> None:
        chat = ChatApp(binding)
        expected = {
            "/": ("text/html", (WEB / "index.html").read_bytes()),
            "/favicon.ico": ("image/vnd.microsoft.icon", (WEB / "favicon.ico").read_bytes()),
            "/socket.io.min.js": ("text/javascript", client_js().read_bytes()),
        }
        async with (
            web.serve(chat, before_stop=chat.stop) as served,
            aiohttp.ClientSession() as http,
        ):
            for path, (content_type, body) in expected.items():
                async with http.get(served.url + path) as response:
                    assert response.status == 200, path
                    assert response.content_type == content_type, path
                    assert await response.read() == body, path

    run(binding, scenario)


def test_the_favicon_is_an_icon_image() -> None:
    data = (WEB / "favicon.ico").read_bytes()
    reserved, kind, count = (int.from_bytes(data[i : i + 2], "little") for i in (0, 2, 4))
    assert (reserved, kind, count) == (0, 1, 1)  # ICONDIR: an icon file with one image
    size = int.from_bytes(data[14:18], "little")
    offset = int.from_bytes(data[18:22], "little")
    assert offset + size == len(data)


def test_make_serve_takes_a_port_on_both_bindings() -> None:
    """``make serve PORT=8050`` binds 8050 on uvicorn and, with ``TRIO=1``, on hypercorn;
    8000 without it. (``make -n``: the commands, printed, not run.)"""

    # Under `make test`, the outer make's flags and command-line variables would reach this
    # one through the environment (MAKEFLAGS); PORT and TRIO may be set there too.
    outer = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PORT", "TRIO"}
    env = {name: value for name, value in os.environ.items() if name not in outer}

    def serve(*variables: str) -> str:
        result = subprocess.run(
            ["make", "-n", "serve", *variables],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.splitlines()[-1]

    assert "uvicorn chat_server:app --host 127.0.0.1 --port 8050" in serve("PORT=8050")
    assert "hypercorn -k trio --bind 127.0.0.1:8050 chat_server:app" in serve("TRIO=1", "PORT=8050")
    assert "--port 8000" in serve()
    assert "--bind 127.0.0.1:8000 " in serve("TRIO=1")


def test_the_admin_ui_is_served_whole_from_npm(binding: str) -> None:
    """``make serve``'s Admin UI at /admin-ui/ needs nothing from the network: its page has no
    outside address left, and everything it loads (scripts, styles, the icon font the page
    took from a CDN) comes from this server."""
    assert (WEB / "node_modules" / "@socket.io" / "admin-ui").is_dir(), (
        "the page's npm packages are missing: cd examples/web && npm ci (make test does it)"
    )

    async def scenario(web: Web) -> None:
        chat = ChatApp(binding)
        async with (
            web.serve(chat, before_stop=chat.stop) as served,
            aiohttp.ClientSession() as http,
        ):
            base = served.url + "/admin-ui/"
            async with http.get(base) as response:
                assert response.status == 200 and response.content_type == "text/html"
                page = await response.text()
            assert "http://" not in page and "https://" not in page
            loaded = re.findall(r'(?:href|src)="([^"]+)"', page)
            assert "mdi/css/materialdesignicons.min.css" in loaded
            for path in loaded:
                async with http.get(base + path) as response:
                    assert response.status == 200, path
                    if path.endswith(".css"):
                        css = await response.text()
                        for font in re.findall(r'url\("?\.\./fonts/([^"?)]+)', css):
                            font_url = base + path.rsplit("/", 2)[0] + "/fonts/" + font
                            async with http.get(font_url) as font_response:
                                assert font_response.status == 200, font_url

    run(binding, scenario)
