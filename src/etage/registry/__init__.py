"""A client for the OCI distribution spec: resolve, pull, push, and registry auth.

credentials.py  the docker config: auths, credHelpers, credsStore; Docker Hub's names
auth.py         WWW-Authenticate challenges, bearer tokens (cached per scope)
transport.py    HTTP: plain http or TLS, auth on 401, retries, redirects, errors
client.py       RegistryClient: resolve, manifests, blobs (resumable, verified), tags
upload.py       its push half: blob uploads (mount, monolithic, chunked), manifests
errors.py       RegistryError, with the registry's own error body in the message
"""

from etage.registry.client import RegistryClient, Repository, Resolved
from etage.registry.credentials import Credentials, DockerConfigCredentials, StaticCredentials
from etage.registry.errors import RegistryError

__all__ = [
    "Credentials",
    "DockerConfigCredentials",
    "RegistryClient",
    "RegistryError",
    "Repository",
    "Resolved",
    "StaticCredentials",
]
