"""How `etage report` reads its data (the dict of `etage.api.report_data`): layers by
stage, each layer's directory tree folded to what is worth showing, the counts and notes
the text and HTML renderings share. It checks nothing."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from etage.insight.paths import main_paths
from etage.insight.summary import LARGEST, human

WIDTH = 100  # text columns
SEVERITIES = ("error", "warning", "info")
BASE_LABEL = "base image"
# Colour-blind-safe hues (Okabe-Ito first), each at least 3:1 against both page backgrounds.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#B8650A", "#4477AA", "#EE6677")
BASE_COLOUR = "#6B7280"
OTHER_FILES = "other files"


# ---- shared reading of the data --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """A row of a layer's directory tree."""

    label: str  # the full path at the top of a layer, else relative to the parent entry
    bytes: int
    path: str = ""  # the path the row stands for, "" for the other files of a directory
    rest: bool = False  # the files of the parent no listed path accounts for


class LayerTree:
    """A layer's {path: bytes} (etage.insight.paths) read as a tree, one level at a time: a
    layer can list tens of thousands of paths, and a page shows a few hundred."""

    def __init__(self, paths: dict[str, int]) -> None:
        self.sizes = paths
        self.kids: dict[str, list[str]] = defaultdict(list)
        for path in paths:
            if path != "/":
                parent = path.rsplit("/", 1)[0] or "/"
                while parent != "/" and parent not in paths:  # tolerate holes in the listing
                    parent = parent.rsplit("/", 1)[0] or "/"
                self.kids[parent].append(path)

    def top(self) -> tuple[Entry, ...]:
        return self.below(Entry("/", self.sizes.get("/", 0), "/"))

    def below(self, entry: Entry) -> tuple[Entry, ...]:
        """The entries under `entry`, biggest first. A directory whose one listed child
        holds all of it is one entry (/srv/app.bin rather than /srv then app.bin); bytes no
        listed child accounts for (small files) are an "other files" entry."""
        parent = entry.path
        if not parent:
            return ()
        found = []
        for path in self.kids.get(parent, []):
            end = path
            while (only := self._only_child(end)) is not None:
                end = only
            label = end if parent == "/" else end[len(parent) + 1 :]
            found.append(Entry(label, self.sizes[path], end))
        total = self.sizes.get(parent, sum(e.bytes for e in found))
        if found and (rest := total - sum(e.bytes for e in found)) > 0:
            found.append(Entry(OTHER_FILES, rest, rest=True))
        return tuple(sorted(found, key=lambda e: (-e.bytes, e.label)))

    def _only_child(self, path: str) -> str | None:
        kids = self.kids.get(path, [])
        return kids[0] if len(kids) == 1 and self.sizes[kids[0]] == self.sizes[path] else None


def fold(
    entries: tuple[Entry, ...], whole: int, *, keep: int, min_share: float
) -> tuple[tuple[Entry, ...], tuple[Entry, ...]]:
    """The entries worth a row (the first always), and the rest."""
    n = 1
    while n < min(keep, len(entries)) and entries[n].bytes >= min_share * whole:
        n += 1
    return entries[:n], entries[n:]


def layers_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(data.get("layers") or [], key=lambda layer: int(layer["index"]))


def stage_groups(data: dict[str, Any]) -> list[tuple[str | None, str, list[dict[str, Any]]]]:
    """(stage, its name as shown, its layers): layers grouped by the stage that made them
    (None: the base image, or every layer of an image etage did not build), in build order."""
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for layer in layers_of(data):
        groups.setdefault(layer.get("stage"), []).append(layer)
    unknown = BASE_LABEL if data.get("summary") else "layers (stages unknown)"
    return [(stage, unknown if stage is None else stage, ls) for stage, ls in groups.items()]


def image_size(data: dict[str, Any]) -> int:
    summary = data.get("summary")
    if summary:
        return int(summary["image"]["size"])
    return sum(int(layer["size"]) for layer in layers_of(data))


def compressed_size(data: dict[str, Any]) -> int | None:
    summary = data.get("summary")
    if summary:
        return int(summary["image"]["compressed"])
    sizes = [layer.get("compressed") for layer in layers_of(data)]
    return None if None in sizes else sum(int(s) for s in sizes if s is not None)


def largest_paths(data: dict[str, Any]) -> list[dict[str, Any]]:
    summary = data.get("summary")
    if summary:
        return list(summary["largest"])
    found = [
        {"path": path, "bytes": nbytes, "file": data.get("dockerfile"), "line": layer["line"],
         "instruction": layer["instruction"], "stage": layer.get("stage"),
         "layer": layer["digest"]}
        for layer in layers_of(data)
        for path, nbytes in main_paths(layer.get("paths") or {})
    ]  # fmt: skip
    return sorted(found, key=lambda p: -int(p["bytes"]))[:LARGEST]


def severity_counts(data: dict[str, Any]) -> dict[str, int]:
    counts = data.get("counts") or {}
    return {s: int(counts.get(s, 0)) for s in SEVERITIES}


def counts_text(counts: dict[str, int]) -> str:
    words = {"error": "errors", "warning": "warnings", "info": "info"}
    return ", ".join(f"{n} {word if n == 1 else words[word]}" for word, n in counts.items())


def findings_by_severity(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Errors first; within a severity, the order of the data (that of `etage check`)."""
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(data.get("findings") or [], key=lambda f: rank.get(f["severity"], len(rank)))


def image_name(data: dict[str, Any]) -> str:
    """The image's name: the reference asked for, or, for a digest, the name the build gave."""
    ref = str(data["image"]["ref"])
    names = ((data.get("summary") or {}).get("image") or {}).get("names") or []
    return str(names[0]) if ref.startswith("sha256:") and names else ref


def file_line(file: str | None, line: int | None) -> str:
    if not file:
        return ""
    return f"{file}:{line}" if line else file


def short_digest(digest: str) -> str:
    algo, _, hexa = digest.partition(":")
    return f"{algo}:{hexa[:12]}" if hexa else digest[:19]


def ratio_note(summary: dict[str, Any] | None) -> tuple[str, str]:
    """The ratio as shown, and what it means."""
    if not summary:
        return "n/a", "not built by etage in this store"
    ratio, naive = f"{float(summary['ratio']):.1f}", human(summary["naive_size"])
    if len(summary["stages"]) < 2:
        return ratio, f"one stage, nothing left behind (naive image {naive})"
    if float(summary["ratio"]) < 1:
        return ratio, f"naive image {naive}: the image holds more than its stages made"
    return ratio, f"naive image {naive}: the base with everything the stages made"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole > 0 else 0.0


# ---- JSON --------------------------------------------------------------------------------


def more_label(rest: tuple[Entry, ...]) -> str:
    return OTHER_FILES if len(rest) == 1 and rest[0].rest else f"{len(rest)} more"
