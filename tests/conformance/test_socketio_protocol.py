"""socketio/socket.io-protocol's test suite (``test-suite/test-suite.js``), in Python.

One test per ``it(...)``, in the same order, with the same name, checks and waits; each
``describe`` is a class whose docstring is its mocha title. The server is the suite's
reference application (``_servers.socketio_app``), at ``/socket.io/``. The suite's helpers
``initLongPollingSession`` and ``initSocketIOConnection`` are the functions below, and
``waitForPackets`` is :func:`wait_for_packets`.

One liberty: the two "should fail with an invalid ... query parameter" tests over WebSocket
create the sockets and never await their close (the suite's ``waitFor`` promises are
dropped); here the close is awaited, and a refusal must be a 400 (what the Node reference
server answers, and what the suite expects of the same requests over HTTP).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.conformance._clients import Closed, Peer, WebSocket
from tests.conformance._servers import MAX_PAYLOAD, PING_INTERVAL_MS, PING_TIMEOUT_MS

pytestmark = pytest.mark.suite("socketio")

HANDSHAKE_KEYS = {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}


async def init_long_polling_session(peer: Peer) -> str:
    response = await peer.fetch("/socket.io/?EIO=4&transport=polling")
    sid: str = json.loads(response.text[1:])["sid"]
    return sid


async def init_socketio_connection(peer: Peer) -> WebSocket:
    socket = await peer.websocket("/socket.io/?EIO=4&transport=websocket")
    await socket.wait_message()  # Engine.IO handshake
    await socket.send("40")
    await socket.wait_message()  # Socket.IO handshake
    await socket.wait_message()  # "auth" packet
    return socket


async def wait_for_packets(socket: WebSocket, count: int) -> list[str | bytes]:
    """The next ``count`` messages, PING packets ignored."""
    packets: list[str | bytes] = []
    while len(packets) < count:
        data = await socket.wait_message()
        if data != "2":
            packets.append(data)
    return packets


def assert_refused_or_closed(socket: WebSocket, closed: Closed) -> None:
    """A WebSocket the server must not open: closed; refused with a 400 if refused."""
    assert closed.status in (None, 400), f"{socket.path}: refused with {closed}, expected a 400"


# -- Engine.IO protocol ------------------------------------------------------------------------


class TestHandshakeHTTPLongPolling:
    """Engine.IO protocol > handshake > HTTP long-polling"""

    async def test_should_successfully_open_a_session(self, peer: Peer) -> None:
        response = await peer.fetch("/socket.io/?EIO=4&transport=polling")

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

    async def test_should_fail_with_an_invalid_eio_query_parameter(self, peer: Peer) -> None:
        response = await peer.fetch("/socket.io/?transport=polling")

        assert response.status == 400

        response2 = await peer.fetch("/socket.io/?EIO=abc&transport=polling")

        assert response2.status == 400

    async def test_should_fail_with_an_invalid_transport_query_parameter(self, peer: Peer) -> None:
        response = await peer.fetch("/socket.io/?EIO=4")

        assert response.status == 400

        response2 = await peer.fetch("/socket.io/?EIO=4&transport=abc")

        assert response2.status == 400

    async def test_should_fail_with_an_invalid_request_method(self, peer: Peer) -> None:
        response = await peer.fetch("/socket.io/?EIO=4&transport=polling", method="post")

        assert response.status == 400

        response2 = await peer.fetch("/socket.io/?EIO=4&transport=polling", method="put")

        assert response2.status == 400


class TestHandshakeWebSocket:
    """Engine.IO protocol > handshake > WebSocket"""

    async def test_should_successfully_open_a_session(self, peer: Peer) -> None:
        socket = await peer.websocket("/socket.io/?EIO=4&transport=websocket")

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

    async def test_should_fail_with_an_invalid_eio_query_parameter(self, peer: Peer) -> None:
        socket = await peer.websocket("/socket.io/?transport=websocket")

        assert_refused_or_closed(socket, await socket.wait_close())

        socket2 = await peer.websocket("/socket.io/?EIO=abc&transport=websocket")

        assert_refused_or_closed(socket2, await socket2.wait_close())

    async def test_should_fail_with_an_invalid_transport_query_parameter(self, peer: Peer) -> None:
        socket = await peer.websocket("/socket.io/?EIO=4")

        assert_refused_or_closed(socket, await socket.wait_close())

        socket2 = await peer.websocket("/socket.io/?EIO=4&transport=abc")

        assert_refused_or_closed(socket2, await socket2.wait_close())


@pytest.mark.mocha_timeout(5.0)
class TestHeartbeatHTTPLongPolling:
    """Engine.IO protocol > heartbeat > HTTP long-polling"""

    async def test_should_send_ping_pong_packets(self, peer: Peer) -> None:
        sid = await init_long_polling_session(peer)

        for _ in range(3):
            poll_response = await peer.fetch(f"/socket.io/?EIO=4&transport=polling&sid={sid}")

            assert poll_response.status == 200

            poll_content = poll_response.text

            assert poll_content == "2"

            push_response = await peer.fetch(
                f"/socket.io/?EIO=4&transport=polling&sid={sid}", method="post", body="3"
            )

            assert push_response.status == 200

    async def test_should_close_the_session_upon_ping_timeout(self, peer: Peer) -> None:
        sid = await init_long_polling_session(peer)

        await asyncio.sleep((PING_INTERVAL_MS + PING_TIMEOUT_MS) / 1000)

        poll_response = await peer.fetch(f"/socket.io/?EIO=4&transport=polling&sid={sid}")

        assert poll_response.status == 400


@pytest.mark.mocha_timeout(5.0)
class TestHeartbeatWebSocket:
    """Engine.IO protocol > heartbeat > WebSocket"""

    async def test_should_send_ping_pong_packets(self, peer: Peer) -> None:
        socket = await peer.websocket("/socket.io/?EIO=4&transport=websocket")

        await socket.wait_message()  # handshake

        for _ in range(3):
            data = await socket.wait_message()

            assert data == "2"

            await socket.send("3")

        await socket.close()

    async def test_should_close_the_session_upon_ping_timeout(self, peer: Peer) -> None:
        socket = await peer.websocket("/socket.io/?EIO=4&transport=websocket")

        await socket.wait_close()  # handshake


class TestCloseHTTPLongPolling:
    """Engine.IO protocol > close > HTTP long-polling"""

    async def test_should_forcefully_close_the_session(self, peer: Peer) -> None:
        sid = await init_long_polling_session(peer)

        poll_response, _ = await asyncio.gather(
            peer.fetch(f"/socket.io/?EIO=4&transport=polling&sid={sid}"),
            peer.fetch(f"/socket.io/?EIO=4&transport=polling&sid={sid}", method="post", body="1"),
        )

        assert poll_response.status == 200

        pull_content = poll_response.text

        assert pull_content == "6"

        poll_response2 = await peer.fetch(f"/socket.io/?EIO=4&transport=polling&sid={sid}")

        assert poll_response2.status == 400


class TestCloseWebSocket:
    """Engine.IO protocol > close > WebSocket"""

    async def test_should_forcefully_close_the_session(self, peer: Peer) -> None:
        socket = await peer.websocket("/socket.io/?EIO=4&transport=websocket")

        await socket.wait_message()  # handshake

        await socket.send("1")

        await socket.wait_close()


class TestUpgrade:
    """Engine.IO protocol > upgrade"""

    async def test_should_successfully_upgrade_from_http_long_polling_to_websocket(
        self, peer: Peer
    ) -> None:
        sid = await init_long_polling_session(peer)

        socket = await peer.websocket(f"/socket.io/?EIO=4&transport=websocket&sid={sid}")

        await socket.wait_open()

        # send probe
        await socket.send("2probe")

        probe_response = await socket.wait_message()

        assert probe_response == "3probe"

        # complete upgrade
        await socket.send("5")

    async def test_should_ignore_http_requests_with_same_sid_after_upgrade(
        self, peer: Peer
    ) -> None:
        sid = await init_long_polling_session(peer)

        socket = await peer.websocket(f"/socket.io/?EIO=4&transport=websocket&sid={sid}")

        await socket.wait_open()
        await socket.send("2probe")
        await socket.send("5")

        poll_response = await peer.fetch(f"/socket.io/?EIO=4&transport=polling&sid={sid}")

        assert poll_response.status == 400

    async def test_should_ignore_websocket_connection_with_same_sid_after_upgrade(
        self, peer: Peer
    ) -> None:
        sid = await init_long_polling_session(peer)

        socket = await peer.websocket(f"/socket.io/?EIO=4&transport=websocket&sid={sid}")

        await socket.wait_open()
        await socket.send("2probe")
        await socket.send("5")

        socket2 = await peer.websocket(f"/socket.io/?EIO=4&transport=websocket&sid={sid}")

        await socket2.wait_close()


# -- Socket.IO protocol ------------------------------------------------------------------------


class TestConnect:
    """Socket.IO protocol > connect"""

    async def test_should_allow_connection_to_the_main_namespace(self, peer: Peer) -> None:
        socket = await peer.websocket("/socket.io/?EIO=4&transport=websocket")

        await socket.wait_message()  # Engine.IO handshake

        await socket.send("40")

        data = await socket.wait_message()

        assert isinstance(data, str)
        assert data.startswith("40")

        handshake = json.loads(data[2:])

        assert set(handshake) == {"sid"}
        assert isinstance(handshake["sid"], str)

        auth_packet = await socket.wait_message()

        assert auth_packet == '42["auth",{}]'

    async def test_should_allow_connection_to_the_main_namespace_with_a_payload(
        self, peer: Peer
    ) -> None:
        socket = await peer.websocket("/socket.io/?EIO=4&transport=websocket")

        await socket.wait_message()  # Engine.IO handshake

        await socket.send('40{"token":"123"}')

        data = await socket.wait_message()

        assert isinstance(data, str)
        assert data.startswith("40")

        handshake = json.loads(data[2:])

        assert set(handshake) == {"sid"}
        assert isinstance(handshake["sid"], str)

        auth_packet = await socket.wait_message()

        assert auth_packet == '42["auth",{"token":"123"}]'

    async def test_should_allow_connection_to_a_custom_namespace(self, peer: Peer) -> None:
        socket = await peer.websocket("/socket.io/?EIO=4&transport=websocket")

        await socket.wait_message()  # Engine.IO handshake

        await socket.send("40/custom,")

        data = await socket.wait_message()

        assert isinstance(data, str)
        assert data.startswith("40/custom,")

        handshake = json.loads(data[10:])

        assert set(handshake) == {"sid"}
        assert isinstance(handshake["sid"], str)

        auth_packet = await socket.wait_message()

        assert auth_packet == '42/custom,["auth",{}]'

    async def test_should_allow_connection_to_a_custom_namespace_with_a_payload(
        self, peer: Peer
    ) -> None:
        socket = await peer.websocket("/socket.io/?EIO=4&transport=websocket")

        await socket.wait_message()  # Engine.IO handshake

        await socket.send('40/custom,{"token":"abc"}')

        data = await socket.wait_message()

        assert isinstance(data, str)
        assert data.startswith("40/custom,")

        handshake = json.loads(data[10:])

        assert set(handshake) == {"sid"}
        assert isinstance(handshake["sid"], str)

        auth_packet = await socket.wait_message()

        assert auth_packet == '42/custom,["auth",{"token":"abc"}]'

    async def test_should_disallow_connection_to_an_unknown_namespace(self, peer: Peer) -> None:
        socket = await peer.websocket("/socket.io/?EIO=4&transport=websocket")

        await socket.wait_message()  # Engine.IO handshake

        await socket.send("40/random")

        data = await socket.wait_message()

        assert data == '44/random,{"message":"Invalid namespace"}'

    async def test_should_disallow_connection_with_an_invalid_handshake(self, peer: Peer) -> None:
        socket = await peer.websocket("/socket.io/?EIO=4&transport=websocket")

        await socket.wait_message()  # Engine.IO handshake

        await socket.send("4abc")

        await socket.wait_close()

    async def test_should_close_the_connection_if_no_handshake_is_received(
        self, peer: Peer
    ) -> None:
        socket = await peer.websocket("/socket.io/?EIO=4&transport=websocket")

        await socket.wait_close()


class TestDisconnect:
    """Socket.IO protocol > disconnect"""

    async def test_should_disconnect_from_the_main_namespace(self, peer: Peer) -> None:
        socket = await init_socketio_connection(peer)

        await socket.send("41")

        data = await socket.wait_message()

        assert data == "2"

    async def test_should_connect_then_disconnect_from_a_custom_namespace(self, peer: Peer) -> None:
        socket = await init_socketio_connection(peer)

        await socket.wait_message()  # ping

        await socket.send("40/custom")

        await socket.wait_message()  # Socket.IO handshake
        await socket.wait_message()  # auth packet

        await socket.send("41/custom")
        await socket.send('42["message","message to main namespace"]')

        data = await socket.wait_message()

        assert data == '42["message-back","message to main namespace"]'


class TestMessage:
    """Socket.IO protocol > message"""

    async def test_should_send_a_plain_text_packet(self, peer: Peer) -> None:
        socket = await init_socketio_connection(peer)

        await socket.send('42["message",1,"2",{"3":[true]}]')

        data = await socket.wait_message()

        assert data == '42["message-back",1,"2",{"3":[true]}]'

    async def test_should_send_a_packet_with_binary_attachments(self, peer: Peer) -> None:
        socket = await init_socketio_connection(peer)

        await socket.send(
            '452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
        )
        await socket.send(bytes([1, 2, 3]))
        await socket.send(bytes([4, 5, 6]))

        packets = await wait_for_packets(socket, 3)

        assert (
            packets[0]
            == '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
        )
        assert packets[1] == bytes([1, 2, 3])
        assert packets[2] == bytes([4, 5, 6])

        await socket.close()

    async def test_should_send_a_plain_text_packet_with_an_ack(self, peer: Peer) -> None:
        socket = await init_socketio_connection(peer)

        await socket.send('42456["message-with-ack",1,"2",{"3":[false]}]')

        data = await socket.wait_message()

        assert data == '43456[1,"2",{"3":[false]}]'

    async def test_should_send_a_packet_with_binary_attachments_and_an_ack(
        self, peer: Peer
    ) -> None:
        socket = await init_socketio_connection(peer)

        await socket.send(
            '452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
        )
        await socket.send(bytes([1, 2, 3]))
        await socket.send(bytes([4, 5, 6]))

        packets = await wait_for_packets(socket, 3)

        assert packets[0] == '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
        assert packets[1] == bytes([1, 2, 3])
        assert packets[2] == bytes([4, 5, 6])

        await socket.close()

    async def test_should_close_the_connection_upon_invalid_format_unknown_packet_type(
        self, peer: Peer
    ) -> None:
        socket = await init_socketio_connection(peer)

        await socket.send("4abc")

        await socket.wait_close()

    async def test_should_close_the_connection_upon_invalid_format_invalid_payload_format(
        self, peer: Peer
    ) -> None:
        socket = await init_socketio_connection(peer)

        await socket.send("42{}")

        await socket.wait_close()

    async def test_should_close_the_connection_upon_invalid_format_invalid_ack_id(
        self, peer: Peer
    ) -> None:
        socket = await init_socketio_connection(peer)

        await socket.send('42abc["message-with-ack",1,"2",{"3":[false]}]')

        await socket.wait_close()
