"""Real registries for tests, on 127.0.0.1: the CNCF distribution server and helpers.

- `registry`: Debian's docker-registry (distribution 2.8) with filesystem storage and
  deletes enabled, no auth.
- `basic_registry`: the same with htpasswd (bcrypt) basic auth.
- `token_registry`: the same with token auth; a token server written here issues RS256
  JWTs whose header carries the signing certificate (`x5c`), which the registry checks
  against its `rootcertbundle` (the same self-signed certificate).
- `fake_server(handler)`: a tiny threaded HTTP server for misbehaving registries.
- `make_image()` / `write_oci_layout()`: small images built here (no Docker Hub),
  and `skopeo()` to run the second implementation.

Servers are per test session (per xdist worker); tests use their own repository names.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gzip
import hashlib
import http.server
import io
import json
import random
import shutil
import socket
import ssl
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

USERS = {"alice": "wonderland-42", "bob": "builder-7"}  # bob may only pull (token server)
TOKEN_SERVICE = "etage-test-registry"
TOKEN_ISSUER = "etage-test-issuer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.fail(f"{program} is not installed (Debian: docker-registry, skopeo, apache2-utils)")
    return path


# ---- the distribution server -----------------------------------------------------------


@dataclass
class RegistryServer:
    host: str  # 127.0.0.1:PORT
    root: Path  # storage root directory
    process: subprocess.Popen[bytes]
    log: Path

    def blob_data(self, digest: str) -> Path:
        hexpart = digest.split(":", 1)[1]
        return self.root / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_registry(workdir: Path, auth: dict[str, Any] | None = None) -> RegistryServer:
    binary = _need("docker-registry")
    workdir.mkdir(parents=True, exist_ok=True)
    root = workdir / "storage"
    root.mkdir(exist_ok=True)
    for _ in range(5):
        port = free_port()
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(root)},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": f"127.0.0.1:{port}", "secret": "etage-test-secret"},
        }
        if auth:
            config["auth"] = auth
        (workdir / "config.yml").write_text(json.dumps(config))  # JSON is YAML
        log = workdir / "registry.log"
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [binary, "serve", str(workdir / "config.yml")],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        server = RegistryServer(f"127.0.0.1:{port}", root, process, log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and process.poll() is None:
            try:
                # No proxy from the environment for a server on this machine.
                direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                direct.open(f"http://{server.host}/v2/", timeout=1).close()
                return server
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    return server
            except OSError:
                pass
            time.sleep(0.05)
        server.stop()
        if "address already in use" not in log.read_text(errors="replace"):
            break
    pytest.fail(f"docker-registry did not start:\n{log.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = start_registry(tmp_path_factory.mktemp("registry"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    work = tmp_path_factory.mktemp("basic-registry")
    htpasswd = _need("htpasswd")
    lines = [
        subprocess.run(
            [htpasswd, "-nbB", "-C", "4", user, password],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        for user, password in USERS.items()
    ]
    (work / "htpasswd").write_text("\n".join(lines) + "\n")
    server = start_registry(
        work, {"htpasswd": {"realm": "etage-test", "path": str(work / "htpasswd")}}
    )
    yield server
    server.stop()


# ---- the token server --------------------------------------------------------------------


@dataclass
class TokenServer:
    """Issues registry tokens: alice may pull and push anywhere, bob may pull,
    anonymous may pull repositories under public/."""

    url: str
    key: Any
    cert_der: bytes
    requests: list[dict[str, Any]] = field(default_factory=list)
    token_field: str = "token"  # or "access_token"
    signing: str = "x5c"  # or "kid": the libtrust key ID of the key (both verify in 2.8)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def grant(self, account: str | None, name: str, actions: list[str]) -> list[str]:
        if account == "alice":
            allowed = {"pull", "push", "delete"}
        elif account == "bob" or (account is None and name.startswith("public/")):
            allowed = {"pull"}
        else:
            allowed = set()
        return [a for a in actions if a in allowed]

    def issue(self, account: str | None, scopes: list[str]) -> str:
        import jwt

        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = self.grant(account, name, actions.split(","))
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        claims = {
            "iss": TOKEN_ISSUER,
            "sub": account or "",
            "aud": TOKEN_SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": base64.b32encode(
                hashlib.sha256(f"{now}{scopes}{account}".encode()).digest()[:10]
            ).decode(),
            "access": access,
        }
        if self.signing == "kid":
            headers: dict[str, Any] = {"kid": libtrust_key_id(self.key.public_key())}
        else:
            headers = {"x5c": [base64.b64encode(self.cert_der).decode()]}
        return jwt.encode(claims, self.key, algorithm="RS256", headers=headers)


def libtrust_key_id(public_key: Any) -> str:
    """Docker's libtrust key ID: base32 of the first 240 bits of sha256(DER SPKI), in
    12 groups of 4 joined by ':' (what distribution looks a JWT `kid` up by)."""
    from cryptography.hazmat.primitives import serialization

    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b32 = base64.b32encode(hashlib.sha256(spki).digest()[:30]).decode()
    return ":".join(b32[i : i + 4] for i in range(0, len(b32), 4))


def self_signed_tls(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a self-signed certificate for 127.0.0.1 (trusted by no one)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    (directory / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "tls.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(directory / "tls.crt", directory / "tls.key")
    return ctx


def _make_signing_cert(path: Path) -> tuple[Any, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "etage test token issuer")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert.public_bytes(serialization.Encoding.DER)


def _token_handler(server: TokenServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            account: str | None = None
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                if USERS.get(user) != password:
                    self._reply(401, {"details": "incorrect username or password"})
                    return
                account = user
            scopes = query.get("scope", [])
            with server.lock:
                server.requests.append(
                    {"service": query.get("service", [""])[0], "scopes": scopes, "account": account}
                )
            token = server.issue(account, scopes)
            self._reply(200, {server.token_field: token, "expires_in": 300})

        def do_POST(self) -> None:
            # OAuth2 refresh-token grant (docker's identity tokens).
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            refresh = form.get("refresh_token", [""])[0]
            account = {f"refresh-for-{u}": u for u in USERS}.get(refresh)
            if form.get("grant_type") != ["refresh_token"] or account is None:
                self._reply(401, {"error": "invalid_grant"})
                return
            scopes = form.get("scope", [""])[0].split()
            with server.lock:
                server.requests.append(
                    {
                        "service": form.get("service", [""])[0],
                        "scopes": scopes,
                        "account": account,
                        "grant": "refresh_token",
                    }
                )
            self._reply(200, {"access_token": server.issue(account, scopes), "expires_in": 300})

    return Handler


@dataclass
class TokenRegistry:
    registry: RegistryServer
    tokens: TokenServer

    @property
    def host(self) -> str:
        return self.registry.host


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenRegistry]:
    work = tmp_path_factory.mktemp("token-registry")
    key, der = _make_signing_cert(work / "issuer.pem")
    tokens = TokenServer(url="", key=key, cert_der=der)
    with serve(_token_handler(tokens)) as url:
        tokens.url = url
        server = start_registry(
            work,
            {
                "token": {
                    "realm": f"{url}/token",
                    "service": TOKEN_SERVICE,
                    "issuer": TOKEN_ISSUER,
                    "rootcertbundle": str(work / "issuer.pem"),
                }
            },
        )
        yield TokenRegistry(server, tokens)
        server.stop()


# ---- fake servers ------------------------------------------------------------------------


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


@contextlib.contextmanager
def serve(
    handler: type[http.server.BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None
) -> Iterator[str]:
    """Run `handler` on a free 127.0.0.1 port; yields http(s)://127.0.0.1:PORT."""
    httpd = QuietServer(("127.0.0.1", 0), handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


class FakeHandler(http.server.BaseHTTPRequestHandler):
    """Base for fake registries: records requests, helpers to answer."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, dict[str, str]]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def record(self) -> None:
        self.seen.append((self.command, self.path, dict(self.headers.items())))

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        hdrs = {"Content-Length": str(len(body)), **(headers or {})}
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)


def fake_handler(answer: Callable[[FakeHandler], None]) -> type[FakeHandler]:
    """A handler class whose GET/HEAD/POST/PUT/PATCH call answer(self); `.seen` records."""

    def handle(self: FakeHandler) -> None:
        self.record()
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""  # type: ignore[attr-defined]
        answer(self)

    return type(
        "Fake",
        (FakeHandler,),
        {
            "seen": [],
            "do_GET": handle,
            "do_HEAD": handle,
            "do_POST": handle,
            "do_PUT": handle,
            "do_PATCH": handle,
        },
    )


# ---- test images ---------------------------------------------------------------------------


@dataclass
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass
class TestImage:
    __test__ = False
    manifest: Blob
    config: Blob
    layers: list[Blob]
    platform: dict[str, str]

    @property
    def blobs(self) -> list[Blob]:
        return [self.config, *self.layers]


def noise(size: int, seed: str) -> bytes:
    """Incompressible, reproducible bytes (so gzip keeps layers large)."""
    return random.Random(seed).randbytes(size)


def layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_image(
    files: dict[str, bytes] | None = None, arch: str = "amd64", extra_layers: int = 0
) -> TestImage:
    files = files or {"etc/hello.txt": b"hello from etage\n", f"etc/arch-{arch}": arch.encode()}
    raw_layers = [layer_tar(files)] + [
        layer_tar({f"data/{i}.bin": hashlib.sha256(f"{arch}{i}".encode()).digest() * 2000})
        for i in range(extra_layers)
    ]
    layers = [Blob(OCI_LAYER_GZIP, gzip.compress(raw, mtime=0)) for raw in raw_layers]
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {
            "type": "layers",
            "diff_ids": ["sha256:" + hashlib.sha256(r).hexdigest() for r in raw_layers],
        },
    }
    config_blob = Blob(OCI_CONFIG, json.dumps(config, separators=(",", ":")).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_blob.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }
    return TestImage(
        Blob(OCI_MANIFEST, json.dumps(manifest, separators=(",", ":")).encode()),
        config_blob,
        layers,
        {"architecture": arch, "os": "linux"},
    )


def make_index(images: list[TestImage]) -> Blob:
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [img.manifest.descriptor(platform=img.platform) for img in images],
    }
    return Blob(OCI_INDEX, json.dumps(index, separators=(",", ":")).encode())


def write_oci_layout(path: Path, tag: str, top: Blob, blobs: list[Blob]) -> Path:
    """An OCI image layout holding `blobs` with index.json naming `top` as `tag`."""
    (path / "blobs/sha256").mkdir(parents=True, exist_ok=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    for blob in [top, *blobs]:
        (path / "blobs/sha256" / blob.digest.split(":")[1]).write_bytes(blob.data)
    index = {
        "schemaVersion": 2,
        "manifests": [top.descriptor(annotations={"org.opencontainers.image.ref.name": tag})],
    }
    (path / "index.json").write_text(json.dumps(index))
    return path


def skopeo(*args: str, timeout: float = 60) -> str:
    """Run skopeo (no signature policy, no TLS for 127.0.0.1) and return its stdout."""
    proc = subprocess.run(
        [_need("skopeo"), "--insecure-policy", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


# ---- client-side helpers -------------------------------------------------------------------


def descriptor(blob: Blob) -> Any:
    from etage.oci.digest import Digest
    from etage.oci.model import Descriptor

    return Descriptor(blob.media_type, Digest.parse(blob.digest), blob.size)


def descriptor_for(data: bytes, media_type: str = OCI_LAYER_GZIP) -> Any:
    """A descriptor of raw bytes (for blobs served by fake servers)."""
    from etage.oci.digest import Digest
    from etage.oci.model import Descriptor

    return Descriptor(media_type, Digest.of(data), len(data))


def opener(data: bytes) -> Callable[[], io.BytesIO]:
    return lambda: io.BytesIO(data)


def push_image(client: Any, repo: str, tag: str, image: TestImage, **kw: Any) -> str:
    """Push an image with etage's client; returns the manifest digest."""
    for blob in image.blobs:
        client.push_blob(repo, descriptor(blob), opener(blob.data), **kw)
    return str(client.put_manifest(repo, tag, image.manifest.data, image.manifest.media_type))


def push_with_skopeo(tmp: Path, host: str, repo: str, tag: str, images: list[TestImage]) -> Blob:
    """Push one image, or an index of several, with skopeo from an OCI layout."""
    blobs = [b for img in images for b in (img.manifest, *img.blobs)]
    top = images[0].manifest if len(images) == 1 else make_index(images)
    layout = write_oci_layout(tmp / f"layout-{repo.replace('/', '-')}-{tag}", tag, top, blobs)
    args = ["--all"] if len(images) > 1 else []
    skopeo(
        "copy", *args, "--preserve-digests", "--dest-tls-verify=false",
        f"oci:{layout}:{tag}", f"docker://{host}/{repo}:{tag}",
    )  # fmt: skip
    return top


@dataclass
class Seen:
    method: str
    url: str
    headers: dict[str, str]
    status: int


def record(client: Any) -> list[Seen]:
    """Record every response the client's HTTP connection pool receives."""
    seen: list[Seen] = []

    def hook(response: Any) -> None:
        req = response.request
        seen.append(Seen(req.method, str(req.url), dict(req.headers.items()), response.status_code))

    client.transport.http.event_hooks = {"request": [], "response": [hook]}
    return seen
