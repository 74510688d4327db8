"""The chat page (examples/web/index.html, served by examples/chat_server.py) in a real
browser: two people, each in a browser context of their own, connect, join, say, whisper,
leave and disconnect, using the page as a person does (typing, Enter, the buttons).

The browser is Debian's Chromium (``apt-get install chromium``), driven by Playwright
(pinned in requirements-dev.txt) with ``executable_path``: no browser is downloaded. Without
Chromium the test is skipped; test_chat_page_protocol.py runs the same scenario with real
Socket.IO clients, browser or not.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from _chat_page import ChatApp
from _web_clients import Web, run

CHROMIUM = shutil.which("chromium")
#: The longest the page may take to show one thing (Playwright's timeouts are in ms).
SHOW_MS = 5000


class Person:
    """One browser context on the page; what went wrong in it (a script error, an error in
    the console, an HTTP error answer) is kept in ``problems``."""

    def __init__(self, name: str, page: Any) -> None:
        self.name = name
        self.page = page
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        page.on("console", self._console)
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status} for {response.url}")

    async def sees(self, selector: str) -> None:
        await self.page.locator(selector).first.wait_for(timeout=SHOW_MS)

    async def sees_line(self, text: str) -> None:
        """A line of the log that reads ``text`` exactly."""
        await self.page.locator("#log div").filter(has_text=text).first.wait_for(timeout=SHOW_MS)

    async def log(self) -> list[str]:
        lines: list[str] = await self.page.locator("#log div").all_text_contents()
        return lines

    async def members(self, room: str) -> list[str]:
        """The names the rooms panel shows in ``room``, with "(you)" and buttons' text."""
        entries = self.page.locator(f'#rooms li[data-room="{room}"] ul.members > li')
        texts: list[str] = await entries.all_text_contents()
        return [" ".join(text.split()) for text in texts]

    async def members_become(self, room: str, expected: list[str]) -> None:
        """Wait (bounded) until the panel shows exactly ``expected`` in ``room``."""
        entries = f'#rooms li[data-room="{room}"] ul.members > li'
        await self.page.wait_for_function(
            """([selector, expected]) => {
                const shown = [...document.querySelectorAll(selector)]
                    .map((li) => li.textContent.split(/\\s+/).filter(Boolean).join(" "));
                return JSON.stringify(shown) === JSON.stringify(expected);
            }""",
            arg=[entries, expected],
            timeout=SHOW_MS,
        )

    async def connect(self) -> None:
        await self.page.fill("#name", self.name)
        await self.page.press("#name", "Enter")
        await self.sees("#status:has-text('connected as')")

    async def join(self, room: str) -> None:
        await self.page.fill("#room", room)
        await self.page.press("#room", "Enter")

    async def type(self, text: str) -> None:
        await self.page.fill("#text", text)
        await self.page.press("#text", "Enter")


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: apt-get install chromium); "
    "test_chat_page_protocol.py runs the same scenario without a browser",
)
def test_two_people_chat_in_the_browser(binding: str) -> None:
    from playwright.async_api import async_playwright

    async def scenario(web: Web) -> None:
        chat = ChatApp(binding)
        async with (
            web.serve(chat, before_stop=chat.stop) as served,
            async_playwright() as playwright,
        ):
            browser = await playwright.chromium.launch(executable_path=CHROMIUM)
            try:
                await chat_in(browser, served.url + "/", chat, served)
            finally:
                await browser.close()

    run(binding, scenario, timeout=60)


async def chat_in(browser: Any, url: str, chat: ChatApp, served: Any) -> None:
    ann, bob = [
        Person(name, await (await browser.new_context()).new_page()) for name in ("ann", "bob")
    ]
    for person in (ann, bob):
        await person.page.goto(url)

    # Connect: Enter in the name field. The transport shown follows the upgrade.
    await ann.connect()
    await ann.sees("#status:has-text('over websocket')")
    # A second Connect (the button is off now: the form submitted by script) opens nothing.
    await ann.page.evaluate("document.getElementById('connect-form').requestSubmit()")
    assert await ann.page.is_disabled("#connect")
    await bob.connect()
    ann_sid, bob_sid = [await p.page.evaluate("socket.id") for p in (ann, bob)]

    # Join: Enter in the room field; the members lists follow, live, on both pages.
    await ann.join("lobby")
    await ann.members_become("lobby", ["ann (you)"])
    await bob.join("lobby")
    await ann.members_become("lobby", ["ann (you)", "bob Whisper"])
    await bob.members_become("lobby", ["ann Whisper", "bob (you)"])
    await ann.sees_line("bob joined lobby")
    # One connection each: had ann's second Connect opened one, it would be there by now.
    assert await chat.sids(served) == sorted([ann_sid, bob_sid])
    # Joining again lists nobody twice.
    await ann.join("lobby")
    await ann.sees_line("you are already in lobby")
    assert await ann.members("lobby") == ["ann (you)", "bob Whisper"]

    # Say: Enter sends, to the room chosen (the one joined last).
    await ann.type("hello bob")
    await bob.sees_line("[lobby] ann: hello bob")
    await ann.sees_line("[lobby] me: hello bob")
    assert await ann.page.input_value("#text") == ""

    # A room the page thinks it may talk to but has not joined: the server refuses, and the
    # page says so instead of showing the message as sent.
    await ann.page.evaluate(
        """() => {
            const select = document.getElementById("to");
            select.append(new Option("room secret", "room:secret"));
            select.value = "room:secret";
        }"""
    )
    await ann.type("into the void")
    await ann.sees_line("not sent to secret: you are not in secret: join it first")
    assert not [line for line in await ann.log() if "me: into the void" in line]

    # Whisper: the button beside a member, then Enter.
    await (
        bob.page.locator('#rooms li[data-room="lobby"] li', has_text="ann")
        .locator("button.whisper")
        .click()
    )
    assert await bob.page.input_value("#to") == f"sid:{ann_sid}"
    await bob.type("psst")
    await ann.sees_line("(whisper) bob: psst")
    await bob.sees_line("(whisper to ann) me: psst")

    # Leave: bob's panel empties, ann's follows.
    await bob.page.locator('#rooms li[data-room="lobby"] button.leave').click()
    await bob.sees_line("you left lobby")
    await bob.sees("#no-rooms:visible")
    await ann.members_become("lobby", ["ann (you)"])
    await ann.sees_line("bob left lobby")
    # ann talks to a room bob has left; bob joins again after her message was answered:
    # had he still been in the room, it would have reached him before his join's answer.
    await ann.type("anyone?")
    await ann.sees_line("[lobby] me: anyone?")
    await bob.join("lobby")
    await bob.members_become("lobby", ["ann Whisper", "bob (you)"])
    assert not [line for line in await bob.log() if "anyone?" in line]
    # "hello bob" reached bob once, in the room, and nothing of the refused message did.
    assert [line for line in await bob.log() if "ann:" in line] == ["[lobby] ann: hello bob"]

    # Disconnect: the room is told; ann may connect again.
    await ann.page.click("#disconnect")
    await ann.sees_line("disconnected: io client disconnect")
    await bob.sees_line("ann left lobby (client namespace disconnect)")
    await bob.members_become("lobby", ["bob (you)"])
    assert await ann.page.is_enabled("#connect")
    assert await chat.sids(served) == [bob_sid]

    # Nothing went wrong on either page: no script error, no failed request (the favicon).
    assert ann.problems == []
    assert bob.problems == []
