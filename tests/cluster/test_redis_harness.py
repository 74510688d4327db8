"""The Redis test harness itself: real ``redis-server`` processes, started and killed."""

from __future__ import annotations

import socket

import _redis
import pytest
from _redis import RedisError, RedisServer, command, pubsub_numsub, pubsub_shardnumsub


def test_server_answers_ping_and_info(redis_server: RedisServer) -> None:
    assert redis_server.is_running
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}"
    assert command(redis_server.port, "PING") == b"PONG"
    assert command(redis_server.url, "ECHO", b"\x00\xff") == b"\x00\xff"
    assert redis_server.command("SET", "k", 42) == b"OK"
    assert redis_server.command("GET", "k") == b"42"
    assert redis_server.command("GET", "missing") is None
    config = redis_server.command("CONFIG", "GET", "save")
    assert config == [b"save", b""]  # persistence off
    assert redis_server.command("CONFIG", "GET", "appendonly") == [b"appendonly", b"no"]
    assert redis_server.command("CONFIG", "GET", "bind") == [b"bind", b"127.0.0.1"]


def test_error_reply_raises(redis_server: RedisServer) -> None:
    with pytest.raises(RedisError, match="unknown command"):
        redis_server.command("NOSUCHCOMMAND")


def test_version_is_at_least_7(redis_server: RedisServer) -> None:
    assert len(redis_server.version) == 3
    redis_server.require_version((7,))  # sharded pub/sub (SPUBLISH, SHARDNUMSUB) needs 7
    with pytest.raises(AssertionError, match=r"older than the 99\.0"):
        redis_server.require_version((99, 0))


def test_version_parsing_from_info_and_binary() -> None:
    assert _redis._parse_version("# Server\r\nredis_version:7.0.15\r\n") == (7, 0, 15)
    assert _redis._parse_version("Redis server v=7.2.4 sha=00000000:0") == (7, 2, 4)
    with pytest.raises(RuntimeError):
        _redis._parse_version("nothing")


def test_kill_refuses_connections_and_restart_reuses_the_port(redis_server: RedisServer) -> None:
    port, pid = redis_server.port, redis_server.pid
    redis_server.kill()
    assert not redis_server.is_running
    assert not redis_server.ping()
    with pytest.raises(ConnectionRefusedError):
        command(port, "PING")
    assert redis_server.version >= (7,)  # still known (from `redis-server --version`)

    redis_server.restart()
    assert redis_server.port == port
    assert redis_server.pid != pid
    assert command(port, "PING") == b"PONG"
    assert redis_server.command("DBSIZE") == 0  # a fresh server: nothing was saved


def test_stop_is_graceful_and_restart_works(redis_server: RedisServer) -> None:
    redis_server.stop()
    assert not redis_server.is_running
    with pytest.raises(ConnectionRefusedError):
        command(redis_server.url, "PING")
    redis_server.stop()  # idempotent
    redis_server.kill()
    redis_server.restart()
    assert redis_server.ping()
    redis_server.restart()  # restarting a running server kills it first
    assert redis_server.ping()


def test_two_servers_at_once(redis_server: RedisServer, redis_server_module: RedisServer) -> None:
    assert redis_server.port != redis_server_module.port
    redis_server.command("SET", "where", "function")
    redis_server_module.command("SET", "where", "module")
    assert redis_server.command("GET", "where") == b"function"
    assert redis_server_module.command("GET", "where") == b"module"
    redis_server.kill()
    assert redis_server_module.ping()


def test_context_manager_kills() -> None:
    with RedisServer() as server:
        port = server.port
        assert server.ping()
    assert not server.is_running
    assert repr(server) == f"<RedisServer redis://127.0.0.1:{port} down>"
    with pytest.raises(ConnectionRefusedError):
        command(port, "PING")


def test_a_taken_port_fails_clearly(redis_server_module: RedisServer) -> None:
    with pytest.raises(RuntimeError, match="Address already in use"):
        RedisServer(port=redis_server_module.port, timeout=2)
    assert redis_server_module.ping()  # the other server was not mistaken for ours


def test_pubsub_counts(redis_server: RedisServer) -> None:
    assert pubsub_numsub(redis_server, "chan") == 0
    assert pubsub_shardnumsub(redis_server.url, "chan") == 0
    with socket.create_connection(("127.0.0.1", redis_server.port), timeout=5) as sub:
        sub.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nchan\r\n")
        sub.recv(1024)  # the subscribe confirmation: the subscription is in place
        sub.sendall(b"*2\r\n$10\r\nSSUBSCRIBE\r\n$4\r\nchan\r\n")
        sub.recv(1024)
        assert pubsub_numsub(redis_server.port, "chan") == 1
        assert pubsub_shardnumsub(redis_server.port, "chan") == 1
        assert command(redis_server, "PUBLISH", "chan", b"\x81\xa1a\x01") == 1
        assert command(redis_server, "SPUBLISH", "chan", b"x") == 1


def test_missing_binary_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(_redis.RedisServerMissing, match="apt-get install redis-server"):
        RedisServer()


def test_command_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="redis://"):
        command("http://example.invalid", "PING")
    with pytest.raises(TypeError):
        _redis._encode((1.5,))
