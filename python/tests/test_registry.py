"""docker:// references from Python: the same references and error classes as the CLI.

The full registry round trips (push, mount, pull back) are in cli/tests/registry.rs;
these check what the binding adds: the ``tls_verify`` keyword reaches the core, and
registry failures arrive as ``RegistryError`` and ``AuthError`` naming the registry.
"""

from __future__ import annotations

import http.server
import socket
import threading
from pathlib import Path
from typing import Iterator

import pytest

import ocicompose


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def demanding_registry() -> Iterator[str]:
    """A server that answers every request with a basic-auth challenge."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="test"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_unreachable_registry_raises_registry_error(tmp_path: Path) -> None:
    host = f"127.0.0.1:{closed_port()}"
    with pytest.raises(ocicompose.RegistryError) as info:
        ocicompose.compose(
            base=f"docker://{host}/lib/base:1",
            artifacts=[ocicompose.Artifact(f"docker://{host}/lib/tool:1", include=["/usr/bin/tool"])],
            output=f"oci:{tmp_path / 'out'}",
            tls_verify=False,
        )
    assert info.value.code == "registry"
    assert host in str(info.value)
    assert not (tmp_path / "out").exists()


def test_missing_credentials_raise_auth_error(tmp_path: Path, demanding_registry: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "absent.json"))
    with pytest.raises(ocicompose.AuthError) as info:
        ocicompose.compose(
            base=f"docker://{demanding_registry}/lib/base:1",
            output=f"docker://{demanding_registry}/app/x:1",
            tls_verify=False,
        )
    assert info.value.code == "auth"
    assert demanding_registry in str(info.value)


def test_a_registry_output_by_digest_is_a_spec_error() -> None:
    with pytest.raises(ocicompose.SpecError) as info:
        ocicompose.compose(base="oci:b", output="docker://127.0.0.1:5000/app@sha256:" + "0" * 64)
    assert info.value.field == "output"
