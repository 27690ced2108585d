"""Challenges, docker config credentials, credential helpers, and basic auth on a real registry."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from etage.registry import DockerConfigCredentials, RegistryClient, RegistryError
from etage.registry.auth import Challenge, merge_scopes, parse_www_authenticate
from etage.registry.credentials import Credentials, api_host, config_key
from tests.registry_fixtures import USERS, RegistryServer, make_image, push_image


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/node:pull,push"',
            [Challenge("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                                  "scope": "repository:library/node:pull,push"})],
        ),
        ('Basic realm="Registry Realm"', [Challenge("basic", {"realm": "Registry Realm"})]),
        (
            'Basic realm="a, b", Bearer realm="https://x/token", service=x , error="insufficient_scope"',
            [Challenge("basic", {"realm": "a, b"}),
             Challenge("bearer", {"realm": "https://x/token", "service": "x", "error": "insufficient_scope"})],
        ),
        (r'Bearer realm="say \"hi\"",Scope="a b"', [Challenge("bearer", {"realm": 'say "hi"', "scope": "a b"})]),
        ("Negotiate abc123==, Basic realm=r", [Challenge("negotiate", {"token68": "abc123=="}),
                                              Challenge("basic", {"realm": "r"})]),
        ("Bearer", [Challenge("bearer", {})]),
        ("", []),
    ],
)  # fmt: skip
def test_parse_www_authenticate(header: str, expected: list[Challenge]) -> None:
    assert parse_www_authenticate(header) == expected


def test_merge_scopes() -> None:
    assert merge_scopes(
        ["repository:a/b:pull,push", "repository:a/b:pull", "repository:c:pull"]
    ) == (
        "repository:a/b:pull,push",
        "repository:c:pull",
    )
    assert merge_scopes(["repository:a:pull", "repository:a:push"]) == ("repository:a:pull,push",)


def test_docker_hub_names() -> None:
    assert api_host("docker.io") == "registry-1.docker.io"
    assert api_host("index.docker.io") == "registry-1.docker.io"
    assert api_host("ghcr.io") == "ghcr.io"
    assert config_key("docker.io") == "https://index.docker.io/v1/"
    assert config_key("127.0.0.1:5000") == "127.0.0.1:5000"


def _write_config(directory: Path, config: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_config_auths_entries(tmp_path: Path) -> None:
    config = _write_config(tmp_path / "cfg", {
        "auths": {
            "https://index.docker.io/v1/": {"auth": _b64("hubuser:hub:pass")},
            "https://ghcr.io": {"username": "gh", "password": "pw"},
            "quay.io": {"identitytoken": "refresh-me"},
            "empty.example": {},
        },
    })  # fmt: skip
    creds = DockerConfigCredentials(config)
    hub = creds.get("docker.io")
    assert hub is not None and (hub.username, hub.password) == ("hubuser", "hub:pass")
    assert hub.source == f"auths in {config / 'config.json'}"
    gh = creds.get("ghcr.io")
    assert gh is not None and (gh.username, gh.password) == ("gh", "pw")
    quay = creds.get("quay.io")
    assert quay is not None and quay.identity_token == "refresh-me" and quay.basic_header() is None
    assert creds.get("empty.example") is None
    assert creds.get("other.example") is None
    assert creds.describe("other.example") == (
        f"anonymous (no credentials for other.example in {config / 'config.json'})"
    )
    assert "hub:pass" not in repr(hub)


def test_docker_config_env_names_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_config(tmp_path / "elsewhere", {"auths": {"r.example": {"auth": _b64("u:p")}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "elsewhere"))
    found = DockerConfigCredentials().get("r.example")
    assert found is not None and found.username == "u"
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "missing"))
    assert DockerConfigCredentials().get("r.example") is None


HELPER = """#!/bin/sh
url=$(cat)
echo "$1 $url" >> {log}
case "$url" in
  127.0.0.1:*) printf '{{"ServerURL":"%s","Username":"alice","Secret":"{password}"}}' "$url" ;;
  https://index.docker.io/v1/) printf '{{"ServerURL":"%s","Username":"<token>","Secret":"refresh-xyz"}}' "$url" ;;
  broken.example) echo "keychain exploded" >&2; exit 3 ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"""


@pytest.fixture
def helper_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake `docker-credential-test` on PATH; yields the file it logs its calls to."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "helper.log"
    script = bindir / "docker-credential-test"
    script.write_text(HELPER.format(log=log, password=USERS["alice"]))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_creds_store_helper(tmp_path: Path, helper_log: Path) -> None:
    config = _write_config(
        tmp_path / "cfg",
        {"credsStore": "test", "auths": {"fallback.example": {"auth": _b64("f:g")}}},
    )
    creds = DockerConfigCredentials(config)
    found = creds.get("127.0.0.1:5000")
    assert found == Credentials(
        "alice", USERS["alice"], source="credential helper docker-credential-test"
    )
    hub = creds.get("docker.io")
    assert hub is not None and hub.identity_token == "refresh-xyz" and hub.username == ""
    assert creds.get("nothing.example") is None  # "credentials not found": anonymous
    fallback = creds.get("fallback.example")  # the helper has nothing; the auths entry is used
    assert fallback is not None and fallback.username == "f"
    with pytest.raises(
        RegistryError,
        match=r"docker-credential-test get failed \(exit status 3\): keychain exploded",
    ):
        creds.get("broken.example")
    assert helper_log.read_text().splitlines()[:3] == [
        "get 127.0.0.1:5000",
        "get https://index.docker.io/v1/",
        "get nothing.example",
    ]


def test_cred_helpers_per_registry(tmp_path: Path, helper_log: Path) -> None:
    config = _write_config(
        tmp_path / "cfg", {"credHelpers": {"127.0.0.1:5000": "test"}, "credsStore": "absent"}
    )
    creds = DockerConfigCredentials(config)
    found = creds.get("127.0.0.1:5000")
    assert found is not None and found.username == "alice"
    assert "credHelpers" in creds.describe("127.0.0.1:5000")
    with pytest.raises(RegistryError, match="docker-credential-absent was not found on PATH") as e:
        creds.get("other.example")  # falls to credsStore, which is not installed
    assert e.value.hint and "credsStore" in e.value.hint


# ---- a real registry with htpasswd ------------------------------------------------------


def test_basic_auth_with_config_json(
    basic_registry: RegistryServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_config(
        tmp_path / "docker",
        {"auths": {basic_registry.host: {"auth": _b64(f"alice:{USERS['alice']}")}}},
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    image = make_image({"basic/config": b"1"})
    with RegistryClient() as client:  # the default: the docker config
        repo = f"{basic_registry.host}/t/basic-config"
        push_image(client, repo, "v1", image)
        assert client.resolve(f"{repo}:v1").data == image.manifest.data


@pytest.mark.parametrize("setting", ["credsStore", "credHelpers"])
def test_basic_auth_through_a_credential_helper(
    basic_registry: RegistryServer, tmp_path: Path, helper_log: Path, setting: str
) -> None:
    value: object = "test" if setting == "credsStore" else {basic_registry.host: "test"}
    config = _write_config(tmp_path / "docker", {setting: value})
    image = make_image({"basic/helper": setting.encode()})
    with RegistryClient(credentials=DockerConfigCredentials(config)) as client:
        push_image(client, f"{basic_registry.host}/t/helper-{setting.lower()}", "v1", image)
    assert helper_log.read_text().splitlines() == [
        f"get {basic_registry.host}"
    ]  # asked once, cached


def test_basic_auth_without_credentials(basic_registry: RegistryServer, tmp_path: Path) -> None:
    config = _write_config(tmp_path / "docker", {})
    with (
        RegistryClient(credentials=DockerConfigCredentials(config)) as client,
        pytest.raises(RegistryError) as e,
    ):
        client.resolve(f"{basic_registry.host}/t/private:v1")
    assert str(e.value) == (
        f"authentication required by {basic_registry.host} to pull {basic_registry.host}/t/private;"
        f" tried anonymous (no credentials for {basic_registry.host} in {config / 'config.json'})"
    )
    assert e.value.status == 401
    assert e.value.hint and "docker login" in e.value.hint and "DOCKER_CONFIG" in e.value.hint


def test_basic_auth_with_a_wrong_password(basic_registry: RegistryServer, tmp_path: Path) -> None:
    config = _write_config(
        tmp_path / "docker",
        {"auths": {basic_registry.host: {"username": "alice", "password": "nope"}}},
    )
    with (
        RegistryClient(credentials=DockerConfigCredentials(config)) as client,
        pytest.raises(RegistryError) as e,
    ):
        client.list_tags(f"{basic_registry.host}/t/private")
    assert str(e.value).startswith(
        f"authentication failed at {basic_registry.host} (pull {basic_registry.host}/t/private)"
        f" with credentials from auths in {config / 'config.json'}"
    )
    assert "UNAUTHORIZED" in e.value.codes
