"""Facts about a snapshot, computed once and remembered in the build cache's index (a
snapshot never changes): its bytes per path (the summary, the report) and its listing
(the image checks)."""

from __future__ import annotations

from etage.cache.index import CacheIndex
from etage.insight.listing import Listing, list_layer
from etage.insight.paths import path_sizes as compute_path_sizes
from etage.runtime.snapshots import Snapshot

PATH_SIZES, LISTING = "path-sizes/2", "listing/1"


def path_sizes(cache: CacheIndex, snapshot: Snapshot) -> dict[str, int]:
    known = cache.snapshot_fact(snapshot.id, PATH_SIZES)
    if known is None:
        known = compute_path_sizes(listing(cache, snapshot).files)  # one walk for both
        cache.remember_snapshot_fact(snapshot.id, PATH_SIZES, known)
    return dict(known)


def listing(cache: CacheIndex, snapshot: Snapshot) -> Listing:
    known = cache.snapshot_fact(snapshot.id, LISTING)
    if known is None:
        value = list_layer(snapshot.diff_dir)
        cache.remember_snapshot_fact(snapshot.id, LISTING, value.to_json())
        return value
    return Listing.from_json(known)
