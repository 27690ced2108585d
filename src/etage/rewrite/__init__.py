"""Rewriting Dockerfiles: `etage fix` and `etage merge`."""
