"""The bearer token flow against a real registry with token auth and a token server here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from etage.oci.store import ContentStore
from etage.registry import DockerConfigCredentials, RegistryClient, RegistryError, StaticCredentials
from tests.registry_fixtures import (
    TOKEN_SERVICE,
    USERS,
    FakeHandler,
    TokenRegistry,
    descriptor,
    fake_handler,
    make_image,
    opener,
    push_image,
    serve,
)


@pytest.fixture
def tokens(token_registry: TokenRegistry) -> Iterator[TokenRegistry]:
    token_registry.tokens.requests.clear()
    yield token_registry
    token_registry.tokens.token_field = "token"
    token_registry.tokens.signing = "x5c"


def _client(host: str, user: str | None = None, password: str | None = None) -> RegistryClient:
    entries = {host: (user, password or USERS[user])} if user else {}
    return RegistryClient(credentials=StaticCredentials(entries), backoff=0.01)  # type: ignore[arg-type]


def test_push_as_alice_asks_for_pull_and_push(tokens: TokenRegistry, unique: str) -> None:
    image = make_image({"token/push": b"p"})
    with _client(tokens.host, "alice") as client:
        push_image(client, f"{tokens.host}/{unique}", "v1", image)
        assert client.resolve(f"{tokens.host}/{unique}:v1").data == image.manifest.data
    requests = tokens.tokens.requests
    assert {r["service"] for r in requests} == {TOKEN_SERVICE}
    assert {r["account"] for r in requests} == {"alice"}
    # One token for everything the push did, one for the pull afterwards.
    assert [r["scopes"] for r in requests] == [
        [f"repository:{unique}:pull,push"],
        [f"repository:{unique}:pull"],
    ]


def test_anonymous_pull_of_a_public_repository(tokens: TokenRegistry, store: ContentStore) -> None:
    image = make_image({"token/public": b"anyone"})
    with _client(tokens.host, "alice") as alice:
        push_image(alice, f"{tokens.host}/public/hello", "v1", image)
    tokens.tokens.requests.clear()
    with _client(tokens.host) as anonymous:
        resolved = anonymous.resolve(f"{tokens.host}/public/hello:v1")
        assert resolved.data == image.manifest.data
        anonymous.download(f"{tokens.host}/public/hello", descriptor(image.layers[0]), store)
    assert tokens.tokens.requests == [
        {"service": TOKEN_SERVICE, "scopes": ["repository:public/hello:pull"], "account": None}
    ]


def test_anonymous_pull_of_a_private_repository(tokens: TokenRegistry, unique: str) -> None:
    with _client(tokens.host) as client, pytest.raises(RegistryError) as e:
        client.resolve(f"{tokens.host}/{unique}:v1")
    assert str(e.value).startswith(
        f"authentication required by {tokens.host} to pull {tokens.host}/{unique}"
    )
    assert "docker login" in (e.value.hint or "")


def test_mount_asks_for_pull_on_the_source(tokens: TokenRegistry, unique: str) -> None:
    image = make_image({"token/mount": b"m"})
    with _client(tokens.host, "alice") as client:
        push_image(client, f"{tokens.host}/{unique}-a", "v1", image)
        tokens.tokens.requests.clear()
        layer = image.layers[0]
        got = client.push_blob(
            f"{tokens.host}/{unique}-b",
            descriptor(layer),
            opener(layer.data),
            mount_from=f"{unique}-a",
        )
        assert got == "mounted"
    assert [r["scopes"] for r in tokens.tokens.requests] == [
        [f"repository:{unique}-b:pull,push", f"repository:{unique}-a:pull"]
    ]


def test_push_without_push_rights_is_denied(tokens: TokenRegistry, unique: str) -> None:
    image = make_image({"token/bob": b"b"})
    with _client(tokens.host, "bob") as client, pytest.raises(RegistryError) as e:
        push_image(client, f"{tokens.host}/{unique}", "v1", image)
    assert str(e.value).startswith(
        f"access denied: {tokens.host} does not grant push on {unique} with credentials given to etage"
    )
    assert e.value.status == 401 and "UNAUTHORIZED" in e.value.codes


def test_wrong_password_is_refused_by_the_token_server(tokens: TokenRegistry, unique: str) -> None:
    with _client(tokens.host, "alice", "wrong") as client, pytest.raises(RegistryError) as e:
        client.resolve(f"{tokens.host}/{unique}:v1")
    assert str(e.value) == (
        f"authentication failed for {tokens.host}: the token server {tokens.tokens.url}/token refused"
        " credentials from credentials given to etage: incorrect username or password"
    )


def test_tokens_are_cached_and_shared_by_threads(
    tokens: TokenRegistry, unique: str, tmp_path: Path
) -> None:
    image = make_image({"token/cache": b"c"}, extra_layers=5)
    repo = f"{tokens.host}/{unique}"
    with _client(tokens.host, "alice") as alice:
        push_image(alice, repo, "v1", image)
    tokens.tokens.requests.clear()
    store = ContentStore(tmp_path / "s")
    with _client(tokens.host, "bob") as bob:
        bob.resolve(f"{repo}:v1")  # learns the challenge, gets a pull token
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda layer: bob.download(repo, descriptor(layer), store), image.layers))
        bob.get_blob_bytes(repo, descriptor(image.config))
    store.close()
    assert [r["scopes"] for r in tokens.tokens.requests] == [[f"repository:{unique}:pull"]]


@pytest.mark.parametrize(("field", "signing"), [("access_token", "x5c"), ("token", "kid")])
def test_token_answer_and_signature_variants(
    tokens: TokenRegistry, unique: str, field: str, signing: str
) -> None:
    tokens.tokens.token_field = field
    tokens.tokens.signing = signing  # the registry trusts an x5c chain or a libtrust key ID
    image = make_image({"token/variant": f"{field}{signing}".encode()})
    with _client(tokens.host, "alice") as client:
        push_image(client, f"{tokens.host}/{unique}", "v1", image)


def test_identity_token_uses_the_oauth_refresh_grant(
    tokens: TokenRegistry, tmp_path: Path, unique: str
) -> None:
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text(
        json.dumps({"auths": {tokens.host: {"identitytoken": "refresh-for-alice"}}})
    )
    image = make_image({"token/identity": b"i"})
    with RegistryClient(credentials=DockerConfigCredentials(config)) as client:
        push_image(client, f"{tokens.host}/{unique}", "v1", image)
    assert tokens.tokens.requests[0] == {
        "service": TOKEN_SERVICE,
        "scopes": [f"repository:{unique}:pull,push"],
        "account": "alice",
        "grant": "refresh_token",
    }


def test_denied_by_the_registry(client: RegistryClient) -> None:
    body = b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}'

    def answer(h: FakeHandler) -> None:
        h.reply(403, body, {"Content-Type": "application/json"})

    with serve(fake_handler(answer)) as url:
        host = url.removeprefix("http://")
        with pytest.raises(RegistryError) as e:
            client.put_manifest(
                f"{host}/org/app", "v1", b"{}", "application/vnd.oci.image.manifest.v1+json"
            )
    assert str(e.value) == (
        f"{host} denied push access to repository org/app: DENIED: requested access to the resource is denied"
    )
    assert e.value.status == 403 and e.value.codes == ("DENIED",)
