"""The metric families of several worker processes, merged into the families one process would expose.

Every worker of a server exposes the same series, so the merge goes sample by sample, keyed by sample name
and labels. Counters and histograms (buckets, sums, counts) are added: each worker counted different turns.
Gauges and untyped samples take the largest value: a worker's gauge describes state that every worker sees
alike (`ai_containment_active` is the containment state each worker's gate read), so adding them would report
it once per worker. Info families (`target_info`) come from the first source only, the worker answering the
scrape: workers differ in `service.instance.id`, and one `target_info` per worker would break the usual
`group_left` joins on it.

Snapshots travel between processes as JSON: floats round-trip exactly, reading needs no text parser, and the
families come back as the prometheus_client `Metric` objects the OpenTelemetry exporter produced.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import Metric

FORMAT_VERSION = 1
SUMMED_TYPES = frozenset({"counter", "histogram"})

LabelKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Snapshot:
    """What one worker wrote: its families, whether it was on its way out, and which files an archive holds."""

    families: Sequence[Metric]
    pid: int | None = None
    final: bool = False  # written at exit: nothing follows, and gauges are left out
    folded: Mapping[str, float] = field(default_factory=dict)  # archive only: file name -> when it was folded


def encode(snapshot: Snapshot) -> bytes:
    families = [
        {
            "name": f.name,
            "help": f.documentation,
            "type": f.type,
            "unit": f.unit,
            "samples": [[s.name, s.labels, s.value] for s in f.samples],
        }
        for f in snapshot.families
    ]
    document = {
        "version": FORMAT_VERSION,
        "pid": snapshot.pid,
        "final": snapshot.final,
        "folded": dict(snapshot.folded),
        "families": families,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def decode(data: bytes) -> Snapshot:
    """The snapshot in `data`; ValueError for anything that is not a snapshot of this version."""
    try:
        document = json.loads(data)
        if document["version"] != FORMAT_VERSION:
            raise ValueError(f"snapshot format {document['version']}, expected {FORMAT_VERSION}")
        families = [_family(f) for f in document["families"]]
        folded = {str(name): float(at) for name, at in document["folded"].items()}
        pid = None if document["pid"] is None else int(document["pid"])
        return Snapshot(families, pid=pid, final=bool(document["final"]), folded=folded)
    except (KeyError, TypeError, AttributeError, UnicodeDecodeError) as error:
        raise ValueError(f"not a metrics snapshot: {error!r}") from error


def _family(data: Mapping[str, Any]) -> Metric:
    family = Metric(str(data["name"]), str(data["help"]), str(data["type"]), str(data["unit"]))
    for name, labels, value in data["samples"]:
        family.add_sample(str(name), {str(k): str(v) for k, v in labels.items()}, float(value))
    return family


def summed_only(families: Iterable[Metric]) -> list[Metric]:
    """The counters and histograms of `families`: what still counts once the worker that wrote them is gone."""
    return [f for f in families if f.type in SUMMED_TYPES]


def merge(sources: Iterable[Iterable[Metric]]) -> list[Metric]:
    """One family per name and type: summed samples for counters and histograms, the first source's info
    families, the maximum for the rest.

    A family's help, unit and sample order come from the first source that has it; each label set's samples
    stay together (a histogram's buckets, sum and count), as the exposition formats expect.
    """
    first: dict[tuple[str, str], Metric] = {}
    # family -> label set without `le` -> (sample name, labels) -> value
    values: dict[tuple[str, str], dict[LabelKey, dict[tuple[str, LabelKey], float]]] = {}
    for families in sources:
        for family in families:
            key = (family.name, family.type)
            if key not in first:
                first[key], values[key] = family, {}
            elif family.type == "info":  # from an earlier source: a source has each family once
                continue
            combine = operator.add if family.type in SUMMED_TYPES else max
            series = values[key]
            for sample in family.samples:
                labels = tuple(sorted(sample.labels.items()))
                samples = series.setdefault(tuple(kv for kv in labels if kv[0] != "le"), {})
                sample_key = (sample.name, labels)
                old = samples.get(sample_key)
                samples[sample_key] = sample.value if old is None else combine(old, sample.value)
    merged = []
    for key, family in first.items():
        out = Metric(family.name, family.documentation, family.type, family.unit)
        for samples in values[key].values():
            for (name, labels), value in samples.items():
                out.add_sample(name, dict(labels), value)
        merged.append(out)
    return merged
