"""Retries, backoff, Retry-After, plain http vs TLS, and connection errors."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import httpx
import pytest

from etage.oci import mediatypes as mt
from etage.registry import RegistryClient, RegistryError, StaticCredentials
from etage.registry import transport as transport_module
from tests.registry_fixtures import (
    FakeHandler,
    RegistryServer,
    fake_handler,
    free_port,
    make_image,
    self_signed_tls,
    serve,
)

MANIFEST = make_image({"retry": b"r"}).manifest


def _flaky(failures: int, status: int = 503, retry_after: str | None = None) -> type[FakeHandler]:
    state = {"calls": 0}

    def answer(h: FakeHandler) -> None:
        state["calls"] += 1
        if state["calls"] <= failures:
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            h.reply(status, b'{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}', headers)
            return
        h.reply(
            200,
            MANIFEST.data,
            {"Content-Type": mt.OCI_MANIFEST, "Docker-Content-Digest": MANIFEST.digest},
        )

    return fake_handler(answer)


def test_503_twice_then_success(client: RegistryClient) -> None:
    handler = _flaky(2)
    with serve(handler) as url:
        desc, data = client.fetch_manifest(f"{url.removeprefix('http://')}/a/b", "v1")
    assert data == MANIFEST.data and str(desc.digest) == MANIFEST.digest
    assert [m for m, _, _ in handler.seen] == ["GET", "GET", "GET"]


def test_429_honours_retry_after(client: RegistryClient) -> None:
    handler = _flaky(1, status=429, retry_after="1")
    started = time.monotonic()
    with serve(handler) as url:
        client.resolve(f"{url.removeprefix('http://')}/a/b:v1")
    assert time.monotonic() - started >= 0.9  # waited as told, not the 10 ms backoff
    assert [m for m, _, _ in handler.seen] == ["HEAD", "HEAD", "GET"]


def test_retries_give_up_with_the_servers_message() -> None:
    handler = _flaky(100)
    with (
        serve(handler) as url,
        RegistryClient(credentials=StaticCredentials({}), retries=2, backoff=0.01) as c,
    ):
        host = url.removeprefix("http://")
        with pytest.raises(
            RegistryError,
            match=rf"{host} answered 503 Service Unavailable to GET /v2/a/b/manifests/v1: UNAVAILABLE: busy",
        ):
            c.get_manifest(f"{host}/a/b", "v1")
    assert len(handler.seen) == 3


def test_delay_reads_retry_after() -> None:
    t = transport_module.Transport(credentials=StaticCredentials({}), backoff=1.0, max_backoff=8.0)
    request = httpx.Request("GET", "http://x/")
    assert t.delay(0, httpx.Response(429, headers={"Retry-After": "7"}, request=request)) == 7
    assert t.delay(0, httpx.Response(429, headers={"Retry-After": "100000"}, request=request)) == 60
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert (
        25 < t.delay(0, httpx.Response(503, headers={"Retry-After": soon}, request=request)) <= 30
    )
    assert all(0.5 <= t.delay(0) <= 1.0 for _ in range(20))  # jitter in [step/2, step]
    assert all(4.0 <= t.delay(10) <= 8.0 for _ in range(20))  # capped
    t.close()


def test_connection_refused(client: RegistryClient) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(RegistryError) as e:
        client.resolve(f"127.0.0.1:{port}/a/b:v1")
    assert str(e.value).startswith(f"cannot connect to http://127.0.0.1:{port}:")
    assert "registry is running" in (e.value.hint or "")


def test_https_to_a_plain_http_registry_hints_insecure(
    registry: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport_module, "_LOCAL", ())  # treat 127.0.0.1 like any host: https
    with RegistryClient(credentials=StaticCredentials({}), backoff=0.01) as c:
        with pytest.raises(RegistryError) as e:
            c.list_tags(f"{registry.host}/a/b")
        assert str(e.value).startswith(f"TLS handshake with https://{registry.host} failed")
        assert f"--insecure-registry {registry.host}" in (e.value.hint or "")
    insecure = RegistryClient(
        credentials=StaticCredentials({}), insecure_registries=[registry.host]
    )
    with insecure as c, pytest.raises(RegistryError, match="not found"):
        c.resolve(f"{registry.host}/a/b:v1")  # plain http again: a normal 404


def test_untrusted_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport_module, "_LOCAL", ())
    handler = _flaky(0)
    with serve(handler, tls=self_signed_tls(tmp_path)) as url:
        host = url.removeprefix("https://")
        with (
            RegistryClient(credentials=StaticCredentials({}), backoff=0.01) as c,
            pytest.raises(RegistryError) as e,
        ):
            c.get_manifest(f"{host}/a/b", "v1")
        assert str(e.value).startswith(f"the TLS certificate of https://{host} is not trusted:")
        assert "certificate verify failed" in str(e.value)
        assert "SSL_CERT_FILE" in (e.value.hint or "")
        assert handler.seen == []  # no retries for a certificate problem, no request sent
        # Trusted through SSL_CERT_FILE (the system trust store's override), it works.
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "tls.crt"))
        with RegistryClient(credentials=StaticCredentials({})) as c:
            assert c.get_manifest(f"{host}/a/b", "v1") == MANIFEST.data


def test_scheme_choice() -> None:
    t = transport_module.Transport(
        credentials=StaticCredentials({}), insecure_registries=["reg.lan:5000", "other.lan"]
    )
    assert t.base("localhost:5000") == "http://localhost:5000"
    assert t.base("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert t.base("[::1]:5000") == "http://[::1]:5000"
    assert t.base("reg.lan:5000") == "http://reg.lan:5000"
    assert t.base("other.lan:443") == "http://other.lan:443"
    assert t.base("ghcr.io") == "https://ghcr.io"
    assert t.base("docker.io") == "https://registry-1.docker.io"
    t.close()
