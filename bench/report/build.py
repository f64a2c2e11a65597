"""Build reports from a run directory: the library behind `report`, `compare`, `capacity`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import atomic
from bench.analysis import capacity as cap
from bench.analysis.compare import Comparison, against_baseline, compare_variants
from bench.analysis.gates import Gate, GateResult, parse_gate
from bench.analysis.stats import estimate, ok_rows, summarize, variant_table
from bench.errors import InputError
from bench.report import claims as claims_mod
from bench.report import plots
from bench.report.junit import junit_xml
from bench.report.perfdata import perfdata
from bench.report.render import render
from bench.results import store
from bench.results.schema import MEASURED

LATENCY_COLUMNS = [("client_p50_ms", "client p50 ms"), ("client_p99_ms", "client p99 ms"),
                   ("server_p50_ms", "server p50 ms"), ("server_p99_ms", "server p99 ms"),
                   ("achieved_rps", "requests/s")]
COST_COLUMNS = [("cpu_ms_per_1k", "CPU-ms / 1k req"), ("alloc_bytes_per_1k", "heap alloc bytes / 1k req"),
                ("rss_peak_bytes", "peak RSS bytes"), ("heap_inuse_peak_bytes", "peak heap in use"),
                ("capacity_rps", "capacity req/s"), ("error_rate", "error rate"), ("loadgen_cpu_util", "load-gen CPU")]
AUDIT_COLUMNS = [("bytes_per_request", "bytes/request"), ("events_per_request", "events/request"),
                 ("webhook_batches_per_s", "webhook batches/s"), ("webhook_events_per_batch", "events/batch"),
                 ("webhook_lag_p99_ms", "lag p99 ms"), ("drops", "drops"), ("canary_leaks", "canary leaks")]
LABELS = dict(LATENCY_COLUMNS + COST_COLUMNS + AUDIT_COLUMNS)


@dataclass
class RunData:
    run_dir: Path
    manifest: Any
    results: list
    frame: pd.DataFrame
    _samples: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def samples(self) -> pd.DataFrame:
        if self._samples is None:
            self._samples = store.load_samples(self.run_dir)
        return self._samples

    def samples_for(self, variant_id: str) -> dict[int, np.ndarray]:
        """Client ms per repeat: successful non-watch requests in each repeat's window."""
        s = self.samples
        mine = s[s["variant_id"] == variant_id]
        return {int(r): g["ms"].to_numpy(dtype=float) for r, g in mine.groupby("repeat")}


def load_run(ref: str | Path, root: Path | None = None) -> RunData:
    run_dir = store.resolve_run(ref, root)
    results = store.load_variants(run_dir)
    if not results:
        raise InputError(run_dir, None, "the run has no variant results yet")
    return RunData(run_dir, store.read_manifest(run_dir), results, store.load_frame(run_dir))


def _audit_text(row: pd.Series) -> tuple[str, str]:
    log = f"{row.get('log_mode')}" if row.get("log_enabled") else "off"
    if not row.get("webhook_enabled"):
        return log, "off"
    wait = row.get("webhook_batch_max_wait_s")
    wh = str(row.get("webhook_mode")) + (f", max-wait {wait:g}s" if isinstance(wait, float) and not np.isnan(wait) else "")
    return log, wh


def _summary_rows(frame: pd.DataFrame, summary: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for vid in frame["variant_id"].drop_duplicates():
        s = summary[summary["variant_id"] == vid]
        ests = {m: estimate(ok_rows(frame[frame["variant_id"] == vid]).get(m, pd.Series(dtype=float)))
                for m in LABELS}
        if not s.empty:
            rows.append({"variant_id": vid, "estimates": ests})
    return rows


def _plots(data: RunData, summary: pd.DataFrame, comparisons: list[Comparison], out: Path) -> list[dict[str, str]]:
    made: list[dict[str, str]] = []

    def add(path: Path | None, title: str, caption: str) -> None:
        if path is not None:
            made.append({"file": str(path.relative_to(out)), "title": title, "caption": caption})

    pdir = out / "plots"
    for profile in sorted(data.frame["profile"].dropna().unique()):
        ids = list(data.frame.loc[data.frame["profile"] == profile, "variant_id"].unique())
        add(plots.latency_cdf(data.samples, pdir / f"latency-cdf-{profile}.png", profile, ids),
            f"Latency CDF ({profile})", "Raw client samples (successful, non-watch, in each window) of every measured repeat.")
        add(plots.latency_vs_rate(data.frame, pdir / f"latency-vs-rate-{profile}.png", profile),
            f"Latency and cost against offered rate ({profile})",
            "Client p50/p99, apiserver CPU-seconds and heap bytes allocated per request at each fixed open-loop rate.")
    add(plots.overhead_bars(comparisons, pdir / "overhead-p99.png"), "p99 latency overhead",
        "Per-repeat p99 relative to the no-audit baseline of the same profile and load, paired 95% interval.")
    add(plots.overhead_bars(comparisons, pdir / "overhead-cpu.png", "cpu_ms_per_1k", "CPU per request"),
        "CPU overhead", "apiserver CPU per request relative to no audit, paired 95% interval.")
    add(plots.stacked_per_request(data.frame, "log_bytes.", pdir / "bytes-by-level.png",
                                  "Audit bytes per request by level"),
        "Bytes per request by level", "Audit log bytes per request, split by audit level.")
    add(plots.stacked_per_request(data.frame, "log_resource_bytes.", pdir / "bytes-by-resource.png",
                                  "Audit bytes per request by resource"),
        "Bytes per request by resource", "Audit log bytes per request, split by resource (top 8).")
    add(plots.webhook_batching(data.frame, pdir / "webhook-batching.png"), "Webhook batching",
        "Mean events per webhook batch and delivery lag p99 against batch-max-wait (batch mode).")
    add(plots.cpu_per_1k(summary, pdir / "cpu-per-1k.png"), "CPU per 1,000 requests",
        "apiserver CPU-ms per 1,000 requests, mean over repeats with 95% interval.")
    return made


def _scenario_gates(run_dir: Path) -> list[Gate]:
    import yaml

    path = run_dir / store.SCENARIO_COPY
    if not path.is_file():
        return []
    doc = yaml.safe_load(path.read_text()) or {}
    return [parse_gate(g, str(path)) for g in doc.get("gates") or []]


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    html: Path
    perfdata: Path
    plots: tuple[Path, ...]


def _loads(frame: pd.DataFrame) -> dict[str, str]:
    """variant id -> its offered load in words."""
    from bench.analysis.compare import load_key

    out = {}
    for vid, g in frame.groupby("variant_id", sort=False):
        key, *extra = load_key(g.iloc[0]).split("|")
        rate = g["target_rps"].iloc[0] if "target_rps" in g else None
        if key.startswith("c"):
            out[str(vid)] = f"{float(key[1:]):.0%} of capacity ({rate:g} req/s)" if rate is not None and not pd.isna(rate) else key
        elif key.startswith("r"):
            out[str(vid)] = f"{key[1:]} req/s"
        else:
            out[str(vid)] = "closed loop (saturation)"
        for part in extra:  # see load_key: a growth collection, a node count, a release
            if part.startswith("nodes"):
                out[str(vid)] += f", {part[5:]} simulated nodes"
            elif part.startswith("v"):
                out[str(vid)] += f", Kubernetes {part}"
            else:
                out[str(vid)] += f", collection {part}"
    return out


def _rule_costs(results: list) -> list[dict[str, Any]]:
    """Per variant (its first measured repeat), the policy rules by audit bytes written."""
    seen: dict[str, dict[str, Any]] = {}
    for r in sorted(results, key=lambda r: (r.variant_id, r.repeat)):
        log = r.audit.log if r.audit else None
        if r.variant_id in seen or r.status not in MEASURED or log is None or not getattr(log, "by_rule", None):
            continue
        total = sum(row["bytes"] for row in log.by_rule) or 1
        seen[r.variant_id] = {"variant_id": r.variant_id, "repeat": r.repeat, "policy": r.variant.policy,
                              "rules": [{**row, "share": row["bytes"] / total} for row in log.by_rule[:8]]}
    return list(seen.values())


def _coverage(data: RunData, detections: str | None) -> dict[str, Any]:
    """Template context for the cost-and-coverage section (bench/report/coverage.py)."""
    from bench.report import coverage

    return {"coverage": coverage.compute(data.run_dir, data.results, detections or coverage.DEFAULT_DETECTIONS),
            "cover": coverage.cell}


def build_report(ref: str | Path, out: Path | None = None, root: Path | None = None, seed: int = 0,
                 n_boot: int = 500, detections: str | None = None) -> ReportFiles:
    data = load_run(ref, root)
    out = out or data.run_dir
    frame = data.frame
    summary = summarize(frame)
    comparisons = against_baseline(frame, data.samples_for, seed=seed, n_boot=n_boot)
    cmp = claims_mod.comparer(frame, data.samples_for, seed=seed, n_boot=n_boot)
    claims = claims_mod.evaluate(frame, cmp)
    gates = _scenario_gates(data.run_dir)
    gate_results: list[GateResult] = [r for c in comparisons for r in c.check(gates)]
    made = _plots(data, summary, comparisons, out)
    perf_path = atomic.write_json(out / "perfdata.json", perfdata(data.results))
    unstable = summary[summary["unstable"]].to_dict("records")
    vt = variant_table(frame)
    variants = []
    for _, row in vt.iterrows():
        log, wh = _audit_text(row)
        variants.append({**row.to_dict(), "log": log, "webhook": wh})
    context = dict(
        manifest=data.manifest, meta=data.results[0].metadata, n_results=len(data.results),
        n_ok=sum(r.status == "ok" for r in data.results), claims=claims,
        claim_rules="; ".join(claims_mod.RULES) + ".",
        comparisons=comparisons, summary_rows=_summary_rows(frame, summary),
        latency_columns=LATENCY_COLUMNS, cost_columns=COST_COLUMNS, audit_columns=AUDIT_COLUMNS,
        gate_results=gate_results, plots=made, unstable=unstable, variants=variants,
        failures=[{"variant_id": r.variant_id, "repeat": r.repeat, "status": r.status, "error": r.error}
                  for r in data.results if r.status != "ok"],
        perfdata_file=perf_path.name,
        rule_costs=_rule_costs(data.results),
        loads=_loads(frame), flags=[{"variant_id": r.variant_id, "repeat": r.repeat, "flags": r.flags}
                                    for r in data.results if r.flags],
        flagged={r.variant_id for r in data.results if r.flags},
        **_coverage(data, detections),
    )
    context["growth"] = growth_context(data.results, out)
    md = atomic.write_text(out / "report.md", render("report.md.j2", **context))
    html = atomic.write_text(out / "report.html", render("report.html.j2", **context))
    made_growth = [out / p["file"] for p in context["growth"]["plots"]]
    return ReportFiles(md, html, perf_path, tuple(out / p["file"] for p in made) + tuple(made_growth))


def growth_context(results: list, out: Path) -> dict[str, Any]:
    """The "how it grows" section's tables and plots (empty when the run measured no growth)."""
    from bench.report import growth, growth_plots

    table = growth.curves(growth.collection_rows(results))
    plots_made: list[dict[str, str]] = []
    path = growth_plots.collection_memory(table, out / "plots" / "growth-collection.png") if not table.empty else None
    if path is not None:
        plots_made.append({"file": str(path.relative_to(out)), "title": "apiserver memory against LIST size",
                           "caption": "Heap in use (per-second series) and RSS (/proc) over the window, unpaged "
                                      "LIST latency and audit bytes per unpaged LIST, against the collection's "
                                      "unpaged LIST response size; one line per policy."})
    soak = growth.soak_rows(results)
    path = growth_plots.soak_timeline(results, out / "plots" / "growth-soak.png") if soak else None
    if path is not None:
        plots_made.append({"file": str(path.relative_to(out)), "title": "A slow consumer over time",
                           "caption": "Per-second apiserver heap in use, goroutines, connections to the receiver "
                                      "(/proc), backlog and drops, client p99; the receiver's fault stretch shaded."})
    nodes = growth.nodes_table(growth.nodes_rows(results))
    return {"collection": table.to_dict("records"), "fits": growth.fits(table) if not table.empty else [],
            "ratios": growth.against_no_audit(table).to_dict("records") if not table.empty else [],
            "soak": soak, "nodes": nodes.to_dict("records"), "content_types": growth.content_types(results),
            "releases": growth.release_rows(results).to_dict("records"),
            "soak_reference": growth.soak_reference(results),
            "plots": plots_made}


# --- compare ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CompareOutcome:
    comparisons: list[Comparison]
    gate_results: list[GateResult]
    markdown: str
    junit: str

    @property
    def tripped(self) -> bool:
        return any(r.tripped for r in self.gate_results)


def _split(ref: str) -> tuple[str, str | None]:
    if ":" in ref:
        run, variant = ref.rsplit(":", 1)
        return run, variant
    return ref, None


def _pairs(a: RunData, va: str | None, b: RunData, vb: str | None) -> list[tuple[str, str]]:
    if (va is None) != (vb is None):
        raise InputError(None, None, "compare two runs (RUN RUN) or two variants (RUN:VARIANT RUN:VARIANT), not a mix")
    ids_a, ids_b = set(a.frame["variant_id"]), set(b.frame["variant_id"])
    if va is not None and vb is not None:
        for vid, ids, run in ((va, ids_a, a), (vb, ids_b, b)):
            if vid not in ids:
                raise InputError(run.run_dir, None, f"no variant {vid!r} (has: {', '.join(sorted(ids))})")
        return [(va, vb)]
    common = [v for v in a.frame["variant_id"].drop_duplicates() if v in ids_b]
    if not common:
        raise InputError(None, None, "the two runs have no variant id in common")
    return [(v, v) for v in common]


def _warnings(a: RunData, b: RunData) -> list[str]:
    out = []
    if a.run_dir != b.run_dir:
        if a.manifest.scenario_sha256 != b.manifest.scenario_sha256:
            out.append("the runs come from different scenario definitions (scenario_sha256 differs)")
        ma, mb = a.results[0].metadata, b.results[0].metadata
        for key in ("hostname", "cpu_count", "kubernetes_version", "backend"):
            if getattr(ma, key) != getattr(mb, key):
                out.append(f"{key} differs: {getattr(ma, key)} vs {getattr(mb, key)}")
    return out


def run_compare(ref_a: str, ref_b: str, gate_texts: list[str], root: Path | None = None, seed: int = 0,
                n_boot: int = 1000) -> CompareOutcome:
    gates = [parse_gate(g, "--fail-on") for g in gate_texts]
    (run_a, va), (run_b, vb) = _split(ref_a), _split(ref_b)
    a = load_run(run_a, root)
    b = a if store.resolve_run(run_b, root) == a.run_dir else load_run(run_b, root)
    comparisons = []
    for ida, idb in _pairs(a, va, b, vb):
        labels = (f"{a.run_dir.name}:{ida}", f"{b.run_dir.name}:{idb}")
        comparisons.append(compare_variants(a.frame, ida, idb, a.samples_for, seed=seed, n_boot=n_boot,
                                            frame_b=b.frame, samples_for_b=b.samples_for, labels=labels))
    results = [r for c in comparisons for r in c.check(gates)]
    md = render("compare.md.j2", reference=ref_a, candidate=ref_b, comparisons=comparisons,
                gate_results=results, tripped=sum(r.tripped for r in results), labels=LABELS,
                shown=set(LABELS), warnings=_warnings(a, b))
    subjects = [f"{c.reference} -> {c.candidate}" for c in comparisons]
    return CompareOutcome(comparisons, results, md, junit_xml(results, subjects))


# --- capacity --------------------------------------------------------------------------


@dataclass(frozen=True)
class CapacityFiles:
    markdown: Path
    plot: Path | None
    text: str


def build_capacity(ref: str | Path, rate: float, profile: str, retention_days: float | None = None,
                   burst_factor: float = 3.0, out: Path | None = None, root: Path | None = None,
                   detections: str | None = None) -> CapacityFiles:
    if rate <= 0:
        raise InputError(None, "--rate", "must be a positive number of requests per second")
    data = load_run(ref, root)
    frame = data.frame
    if profile not in set(frame["profile"]):
        raise InputError(data.run_dir, "--profile", f"no variant with profile {profile!r} "
                         f"(run has: {', '.join(sorted(set(frame['profile'])))})")
    comparisons = against_baseline(frame, None)
    inputs = cap.inputs_from_run(frame, comparisons, rate, profile, retention_days, burst_factor)
    rows = [{"variant_id": vid, "policy": pol, "input": i, "plan": cap.plan(i), "basis": b} for vid, pol, i, b in inputs]
    out = out or data.run_dir
    tag = f"{profile}-{rate:g}"
    plot = plots.capacity_bars([r["variant_id"] for r in rows], [r["plan"].gb_per_day for r in rows],
                               [r["plan"].added_cores for r in rows], out / "plots" / f"capacity-{tag}.png", rate,
                               [r["plan"].added_cores_interval for r in rows])
    text = render("capacity.md.j2", manifest=data.manifest, rate=rate, profile=profile, retention_days=retention_days,
                  burst_factor=burst_factor, rows=rows, plot=str(plot.relative_to(out)) if plot else None,
                  **_coverage(data, detections))
    md = atomic.write_text(out / f"capacity-{tag}.md", text)
    return CapacityFiles(md, plot, text)


# --- plan --------------------------------------------------------------------------------


def _seconds_per_variant(results: list) -> float | None:
    from datetime import datetime

    spans = []
    for r in results:
        a, b = r.metadata.started_at, r.metadata.ended_at
        if a and b:
            spans.append((datetime.fromisoformat(b.replace("Z", "+00:00")) - datetime.fromisoformat(a.replace("Z", "+00:00"))).total_seconds())
    return float(np.median(spans)) if spans else None


def build_plan(ref: str | Path, delta: float, longer: float = 2.0, root: Path | None = None) -> str:
    from bench.analysis.plan import plan

    data = load_run(ref, root)
    frame = data.frame
    window = float(frame["window_s"].median()) if "window_s" in frame and frame["window_s"].notna().any() else None
    per_variant = _seconds_per_variant(data.results)
    if window is None or per_variant is None:
        raise InputError(data.run_dir, None, "the run has no window lengths or timings (schema 2 results needed)")
    rows = plan(frame, delta, per_variant, window, longer=longer)
    return render("plan.md.j2", run=data.manifest.run_id, delta=delta, window=window, per_variant=per_variant,
                  rows=rows, longer=longer, labels=LABELS)


# --- committed examples ------------------------------------------------------------------


def save_example(ref: str | Path, name: str, root: Path | None = None) -> Path:
    """results/examples/<name>/: what a reader needs to trace a figure (no raw samples, no captures)."""
    import re
    import shutil

    from bench.paths import project_root

    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name):
        raise InputError("command line", "--name", "use lowercase letters, digits, '.', '_' and '-'")
    data = load_run(ref, root)
    dest = project_root() / "results" / "examples" / name
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "variants").mkdir(parents=True)
    for rel in ("run.json", store.SCENARIO_COPY, "report.md"):
        if (data.run_dir / rel).is_file():
            shutil.copy2(data.run_dir / rel, dest / rel)
    for f in sorted((data.run_dir / "variants").glob("*.json")):
        shutil.copy2(f, dest / "variants" / f.name)
    for f in sorted(data.run_dir.glob("capacity-*.md")):
        shutil.copy2(f, dest / f.name)
    return dest
