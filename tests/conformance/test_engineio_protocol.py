"""socketio/engine.io-protocol's test suite (``test-suite/test-suite.js``), in Python.

One test per ``it(...)``, in the same order, with the same name, checks and waits; each
``describe`` is a class whose docstring is its mocha title. The server is the suite's
reference application (``_servers.engineio_app``: an echo), at ``/engine.io/``. The suite's
helper ``initLongPollingSession`` is the function below.

Two liberties, as in test_socketio_protocol.py: the "fails with an invalid ... query
parameter" tests over WebSocket await the close the suite leaves un-awaited (a refusal must be
a 400); and where the suite awaits something else while a WebSocket is open and reads it
afterwards, the messages that arrive meanwhile are dropped (``socket.not_listening()``), as
they have no listener in JavaScript.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import pytest

from tests.conformance._clients import Closed, Peer, Response, WebSocket
from tests.conformance._servers import MAX_PAYLOAD, PING_INTERVAL_MS, PING_TIMEOUT_MS

pytestmark = pytest.mark.suite("engineio")

HANDSHAKE_KEYS = {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}


async def init_long_polling_session(peer: Peer) -> str:
    response = await peer.fetch("/engine.io/?EIO=4&transport=polling")
    sid: str = json.loads(response.text[1:])["sid"]
    return sid


def assert_refused_or_closed(socket: WebSocket, closed: Closed) -> None:
    """A WebSocket the server must not open: closed; refused with a 400 if refused."""
    assert closed.status in (None, 400), f"{socket.path}: refused with {closed}, expected a 400"


class TestHandshakeHTTPLongPolling:
    """Engine.IO protocol > handshake > HTTP long-polling"""

    async def test_successfully_opens_a_session(self, peer: Peer) -> None:
        response = await peer.fetch("/engine.io/?EIO=4&transport=polling")

        assert response.status == 200

        content = response.text

        assert content.startswith("0")

        value = json.loads(content[1:])

        assert set(value) == HANDSHAKE_KEYS
        assert isinstance(value["sid"], str)
        assert value["upgrades"] == ["websocket"]
        assert value["pingInterval"] == PING_INTERVAL_MS
        assert value["pingTimeout"] == PING_TIMEOUT_MS
        assert value["maxPayload"] == MAX_PAYLOAD

    async def test_fails_with_an_invalid_eio_query_parameter(self, peer: Peer) -> None:
        response = await peer.fetch("/engine.io/?transport=polling")

        assert response.status == 400

        response2 = await peer.fetch("/engine.io/?EIO=abc&transport=polling")

        assert response2.status == 400

    async def test_fails_with_an_invalid_transport_query_parameter(self, peer: Peer) -> None:
        response = await peer.fetch("/engine.io/?EIO=4")

        assert response.status == 400

        response2 = await peer.fetch("/engine.io/?EIO=4&transport=abc")

        assert response2.status == 400

    async def test_fails_with_an_invalid_request_method(self, peer: Peer) -> None:
        response = await peer.fetch("/engine.io/?EIO=4&transport=polling", method="post")

        assert response.status == 400

        response2 = await peer.fetch("/engine.io/?EIO=4&transport=polling", method="put")

        assert response2.status == 400


class TestHandshakeWebSocket:
    """Engine.IO protocol > handshake > WebSocket"""

    async def test_successfully_opens_a_session(self, peer: Peer) -> None:
        socket = await peer.websocket("/engine.io/?EIO=4&transport=websocket")

        data = await socket.wait_message()

        assert isinstance(data, str)
        assert data.startswith("0")

        value = json.loads(data[1:])

        assert set(value) == HANDSHAKE_KEYS
        assert isinstance(value["sid"], str)
        assert value["upgrades"] == []
        assert value["pingInterval"] == PING_INTERVAL_MS
        assert value["pingTimeout"] == PING_TIMEOUT_MS
        assert value["maxPayload"] == MAX_PAYLOAD

        await socket.close()

    async def test_fails_with_an_invalid_eio_query_parameter(self, peer: Peer) -> None:
        socket = await peer.websocket("/engine.io/?transport=websocket")

        assert_refused_or_closed(socket, await socket.wait_close())

        socket2 = await peer.websocket("/engine.io/?EIO=abc&transport=websocket")

        assert_refused_or_closed(socket2, await socket2.wait_close())

    async def test_fails_with_an_invalid_transport_query_parameter(self, peer: Peer) -> None:
        socket = await peer.websocket("/engine.io/?EIO=4")

        assert_refused_or_closed(socket, await socket.wait_close())

        socket2 = await peer.websocket("/engine.io/?EIO=4&transport=abc")

        assert_refused_or_closed(socket2, await socket2.wait_close())


class TestMessageHTTPLongPolling:
    """Engine.IO protocol > message > HTTP long-polling"""

    async def test_sends_and_receives_a_payload_containing_one_plain_text_packet(
        self, peer: Peer
    ) -> None:
        sid = await init_long_polling_session(peer)

        push_response = await peer.fetch(
            f"/engine.io/?EIO=4&transport=polling&sid={sid}", method="post", body="4hello"
        )

        assert push_response.status == 200

        post_content = push_response.text

        assert post_content == "ok"

        poll_response = await peer.fetch(f"/engine.io/?EIO=4&transport=polling&sid={sid}")

        assert poll_response.status == 200

        poll_content = poll_response.text

        assert poll_content == "4hello"

    async def test_sends_and_receives_a_payload_containing_several_plain_text_packets(
        self, peer: Peer
    ) -> None:
        sid = await init_long_polling_session(peer)

        push_response = await peer.fetch(
            f"/engine.io/?EIO=4&transport=polling&sid={sid}",
            method="post",
            body="4test1\x1e4test2\x1e4test3",
        )

        assert push_response.status == 200

        post_content = push_response.text

        assert post_content == "ok"

        poll_response = await peer.fetch(f"/engine.io/?EIO=4&transport=polling&sid={sid}")

        assert poll_response.status == 200

        poll_content = poll_response.text

        assert poll_content == "4test1\x1e4test2\x1e4test3"

    async def test_sends_and_receives_a_payload_containing_plain_text_and_binary_packets(
        self, peer: Peer
    ) -> None:
        sid = await init_long_polling_session(peer)

        push_response = await peer.fetch(
            f"/engine.io/?EIO=4&transport=polling&sid={sid}",
            method="post",
            body="4hello\x1ebAQIDBA==",
        )

        assert push_response.status == 200

        post_content = push_response.text

        assert post_content == "ok"

        poll_response = await peer.fetch(f"/engine.io/?EIO=4&transport=polling&sid={sid}")

        assert poll_response.status == 200

        poll_content = poll_response.text

        assert poll_content == "4hello\x1ebAQIDBA=="

    async def test_closes_the_session_upon_invalid_packet_format(self, peer: Peer) -> None:
        sid = await init_long_polling_session(peer)

        # node-fetch throws when the request is closed abnormally: only a response is checked
        with contextlib.suppress(aiohttp.ClientError):
            push_response = await peer.fetch(
                f"/engine.io/?EIO=4&transport=polling&sid={sid}", method="post", body="abc"
            )

            assert push_response.status == 400

        poll_response = await peer.fetch(f"/engine.io/?EIO=4&transport=polling&sid={sid}")

        assert poll_response.status == 400

    async def test_closes_the_session_upon_duplicate_poll_requests(self, peer: Peer) -> None:
        sid = await init_long_polling_session(peer)

        async def second_poll() -> Response:
            await asyncio.sleep(0.005)
            return await peer.fetch(f"/engine.io/?EIO=4&transport=polling&sid={sid}&t=burst")

        poll_responses = await asyncio.gather(
            peer.fetch(f"/engine.io/?EIO=4&transport=polling&sid={sid}"), second_poll()
        )

        assert poll_responses[0].status == 200

        content = poll_responses[0].text

        assert content == "1"

        # the Node.js implementation uses HTTP 500 (Internal Server Error), but HTTP 400 seems
        # more suitable
        assert poll_responses[1].status in (400, 500)

        poll_response = await peer.fetch(f"/engine.io/?EIO=4&transport=polling&sid={sid}")

        assert poll_response.status == 400


class TestMessageWebSocket:
    """Engine.IO protocol > message > WebSocket"""

    async def test_sends_and_receives_a_plain_text_packet(self, peer: Peer) -> None:
        socket = await peer.websocket("/engine.io/?EIO=4&transport=websocket")

        await socket.wait_open()

        await socket.wait_message()  # handshake

        await socket.send("4hello")

        data = await socket.wait_message()

        assert data == "4hello"

        await socket.close()

    async def test_sends_and_receives_a_binary_packet(self, peer: Peer) -> None:
        socket = await peer.websocket("/engine.io/?EIO=4&transport=websocket")

        await socket.wait_message()  # handshake

        await socket.send(bytes([1, 2, 3, 4]))

        data = await socket.wait_message()

        assert data == bytes([1, 2, 3, 4])

        await socket.close()

    async def test_closes_the_session_upon_invalid_packet_format(self, peer: Peer) -> None:
        socket = await peer.websocket("/engine.io/?EIO=4&transport=websocket")

        await socket.wait_message()  # handshake

        await socket.send("abc")

        await socket.wait_close()

        await socket.close()


@pytest.mark.mocha_timeout(5.0)
class TestHeartbeatHTTPLongPolling:
    """Engine.IO protocol > heartbeat > HTTP long-polling"""

    async def test_sends_ping_pong_packets(self, peer: Peer) -> None:
        sid = await init_long_polling_session(peer)

        for _ in range(3):
            poll_response = await peer.fetch(f"/engine.io/?EIO=4&transport=polling&sid={sid}")

            assert poll_response.status == 200

            poll_content = poll_response.text

            assert poll_content == "2"

            push_response = await peer.fetch(
                f"/engine.io/?EIO=4&transport=polling&sid={sid}", method="post", body="3"
            )

            assert push_response.status == 200

    async def test_closes_the_session_upon_ping_timeout(self, peer: Peer) -> None:
        sid = await init_long_polling_session(peer)

        await asyncio.sleep((PING_INTERVAL_MS + PING_TIMEOUT_MS) / 1000)

        poll_response = await peer.fetch(f"/engine.io/?EIO=4&transport=polling&sid={sid}")

        assert poll_response.status == 400


@pytest.mark.mocha_timeout(5.0)
class TestHeartbeatWebSocket:
    """Engine.IO protocol > heartbeat > WebSocket"""

    async def test_sends_ping_pong_packets(self, peer: Peer) -> None:
        socket = await peer.websocket("/engine.io/?EIO=4&transport=websocket")

        await socket.wait_message()  # handshake

        for _ in range(3):
            data = await socket.wait_message()

            assert data == "2"

            await socket.send("3")

        await socket.close()

    async def test_closes_the_session_upon_ping_timeout(self, peer: Peer) -> None:
        socket = await peer.websocket("/engine.io/?EIO=4&transport=websocket")

        await socket.wait_close()  # handshake


class TestCloseHTTPLongPolling:
    """Engine.IO protocol > close > HTTP long-polling"""

    async def test_forcefully_closes_the_session(self, peer: Peer) -> None:
        sid = await init_long_polling_session(peer)

        poll_response, _ = await asyncio.gather(
            peer.fetch(f"/engine.io/?EIO=4&transport=polling&sid={sid}"),
            peer.fetch(f"/engine.io/?EIO=4&transport=polling&sid={sid}", method="post", body="1"),
        )

        assert poll_response.status == 200

        pull_content = poll_response.text

        assert pull_content == "6"

        poll_response2 = await peer.fetch(f"/engine.io/?EIO=4&transport=polling&sid={sid}")

        assert poll_response2.status == 400


class TestCloseWebSocket:
    """Engine.IO protocol > close > WebSocket"""

    async def test_forcefully_closes_the_session(self, peer: Peer) -> None:
        socket = await peer.websocket("/engine.io/?EIO=4&transport=websocket")

        await socket.wait_message()  # handshake

        await socket.send("1")

        await socket.wait_close()


class TestUpgrade:
    """Engine.IO protocol > upgrade"""

    async def test_successfully_upgrades_from_http_long_polling_to_websocket(
        self, peer: Peer
    ) -> None:
        sid = await init_long_polling_session(peer)

        socket = await peer.websocket(f"/engine.io/?EIO=4&transport=websocket&sid={sid}")

        await socket.wait_open()

        # send probe
        await socket.send("2probe")

        probe_response = await socket.wait_message()

        assert probe_response == "3probe"

        async with socket.not_listening():
            poll_response = await peer.fetch(f"/engine.io/?EIO=4&transport=polling&sid={sid}")

        assert poll_response.status == 200

        poll_content = poll_response.text

        assert poll_content == "6"  # "noop" packet to cleanly end the HTTP long-polling request

        # complete upgrade
        await socket.send("5")

        await socket.send("4hello")

        data = await socket.wait_message()

        assert data == "4hello"

    async def test_ignores_http_requests_with_same_sid_after_upgrade(self, peer: Peer) -> None:
        sid = await init_long_polling_session(peer)

        socket = await peer.websocket(f"/engine.io/?EIO=4&transport=websocket&sid={sid}")

        await socket.wait_open()
        await socket.send("2probe")
        await socket.send("5")

        async with socket.not_listening():
            poll_response = await peer.fetch(f"/engine.io/?EIO=4&transport=polling&sid={sid}")

        assert poll_response.status == 400

        await socket.send("4hello")

        data = await socket.wait_message()

        assert data == "4hello"

    async def test_ignores_websocket_connection_with_same_sid_after_upgrade(
        self, peer: Peer
    ) -> None:
        sid = await init_long_polling_session(peer)

        socket = await peer.websocket(f"/engine.io/?EIO=4&transport=websocket&sid={sid}")

        await socket.wait_open()
        await socket.send("2probe")
        await socket.send("5")

        async with socket.not_listening():
            socket2 = await peer.websocket(f"/engine.io/?EIO=4&transport=websocket&sid={sid}")

            await socket2.wait_close()

        await socket.send("4hello")

        data = await socket.wait_message()

        assert data == "4hello"
