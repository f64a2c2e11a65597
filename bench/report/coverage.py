"""Cost and coverage side by side for the policies of a run.

Cost is what each variant measured (bytes per request of its own log). Coverage comes from
the run's own capture (bench.logs.capture: a variant whose policy logs everything at
RequestResponse): the capture is replayed through every policy of the run, and each
detection's requests found there are checked under each policy (bench.logs.coverage).
The result is cached next to the capture, keyed by the capture, policies and detections.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import atomic
from bench.detections import find_detections, load_detections
from bench.logs import capture as capture_mod
from bench.logs import coverage as cov
from bench.logs import reader, whatif
from bench.paths import project_root
from bench.policy.loader import load_policy
from bench.results.schema import MEASURED

DEFAULT_DETECTIONS = "auditbench-traffic"
_CACHE = "coverage.json"
_MISSING_RR = "requests without a RequestReceived event (stage omitted in the capture?)"


@dataclass
class PolicyRow:
    policy: str
    variants: list[str]
    measured_bytes_per_request: float | None
    predicted_bytes_per_request: float | None
    complete: bool
    detections: list[dict[str, Any]]  # name, kept, found, reason


@dataclass
class RunCoverage:
    capture: str
    capture_requests: int
    detections_file: str
    detections: list[dict[str, str]]
    rows: list[PolicyRow]
    notes: list[str] = field(default_factory=list)

    def row(self, policy: str) -> PolicyRow | None:
        return next((r for r in self.rows if r.policy == policy), None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _policy_files(results: list) -> tuple[dict[str, Path], list[str]]:
    """Policy name -> its file as the run used it (same content when the run recorded a hash)."""
    from bench.scenario.loader import resolve_policy

    found: dict[str, Path] = {}
    gone: set[str] = set()
    for r in results:
        name = r.variant.policy
        if name in found or name in gone or r.variant.is_baseline:
            continue
        recorded = [Path(r.metadata.policy_file)] if r.metadata.policy_file else []
        for candidate in (*recorded, resolve_policy(name)):
            if candidate.is_file() and (r.metadata.policy_sha256 is None or _sha(candidate) == r.metadata.policy_sha256):
                found[name] = candidate
                break
        else:
            gone.add(name)
    notes = [f"policy {name}: its file changed or moved since the run; no coverage for it" for name in sorted(gone)]
    return found, notes


def _mean(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(vals) / len(vals) if vals else None


def _measured(results: list, policy: str) -> float | None:
    return _mean([r.audit.log.bytes_per_request for r in results
                  if r.variant.policy == policy and r.status in MEASURED and r.audit and r.audit.log])


def compute(run_dir: Path, results: list, detections: str = DEFAULT_DETECTIONS) -> RunCoverage | None:
    """Coverage of every audited policy of the run, or None when the run kept no capture."""
    captures = capture_mod.find_captures(run_dir)
    if not captures:
        return None
    capture = captures[0]
    files, notes = _policy_files(results)
    det_path = find_detections(detections)
    key = hashlib.sha256(json.dumps([str(capture.name), capture.stat().st_size, _sha(det_path),
                                     sorted((n, _sha(p)) for n, p in files.items())]).encode()).hexdigest()
    cached = _read_cache(capture.parent / _CACHE, key)
    if cached is not None:
        return cached
    dets = load_detections(det_path)
    names = sorted(files)
    policies = [load_policy(files[n]) for n in names]
    collector = cov.Collector(dets)
    result = whatif.predict(reader.iter_events(reader.expand([capture])), policies, observe=collector.observe)
    covs = cov.coverage(collector.finish(), dets, policies, examples=1)
    if _MISSING_RR in result.capture_problems:
        notes.append("the capture omits RequestReceived (as requestresponse-all does), so replayed bytes leave "
                     "those events out (the capture policy keeps them); coverage counts requests and is unaffected")
    rows = []
    for name, pred, c in zip(names, result.predictions, covs):
        rows.append(PolicyRow(
            name, sorted({r.variant_id for r in results if r.variant.policy == name}), _measured(results, name),
            pred.bytes / result.capture_requests if result.capture_requests else None, c.complete,
            [{"name": d.name, "kept": d.kept_requests, "found": d.found_requests,
              "reason": d.missed[0].reason if d.missed else None} for d in c.detections]))
    shown = det_path.resolve()
    shown = shown.relative_to(project_root()) if shown.is_relative_to(project_root()) else shown
    out = RunCoverage(str(capture.relative_to(run_dir)), result.capture_requests, str(shown),
                      [{"name": d.name, "title": d.title} for d in dets], rows, notes)
    atomic.write_json(capture.parent / _CACHE, {"key": key, "coverage": out.to_json()})
    return out


def _read_cache(path: Path, key: str) -> RunCoverage | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if doc.get("key") != key:
        return None
    c = doc["coverage"]
    return RunCoverage(c["capture"], c["capture_requests"], c["detections_file"], c["detections"],
                       [PolicyRow(**r) for r in c["rows"]], c["notes"])


def cell(row: PolicyRow | None, detection: str) -> str:
    """"kept/found" for one detection, marked when requests are missed."""
    if row is None:
        return "–"
    d = next((x for x in row.detections if x["name"] == detection), None)
    if d is None:
        return "–"
    if not d["found"]:
        return "0/0"
    return f"{d['kept']}/{d['found']}" + (" ✗" if d["kept"] < d["found"] else "")
