"""The measurement interface: every family of figures is one measurement over one window.

As ClusterLoader2 registers its measurements by name, each measurement here is a class
registered with :func:`register` and driven by the orchestrator (bench.measure.orchestrate)
through the same four calls:

- ``start(ctx)``   the cluster is up, traffic has not started (take baselines, start threads);
- ``edge(ctx, e)`` at the window's start and end edges (``e`` is "start" or "end"), while
  traffic runs: snapshots that bracket exactly the window the client samples cover;
- ``stop(ctx)``    traffic is over, the cluster still runs (final snapshots, stop threads);
- ``collect(ctx)`` the cluster has stopped (audit backends flushed): return this
  measurement's section of the result, figures over ``ctx.window`` only. What happened
  outside the window (set-up, the flush after SIGTERM) is reported apart, never mixed in.

Measurements return data; they never write result files or print.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

Edge = str  # "start" | "end"


@dataclass(frozen=True)
class Window:
    """[start, end) in unix seconds: the traffic window every figure of a variant covers."""

    start: float
    end: float

    @property
    def duration_s(self) -> float:
        return self.end - self.start

    def contains(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass
class Stop:
    """How the control plane ended: the apiserver's SIGTERM flushes its audit backends."""

    sigterm_at: float | None = None  # unix time SIGTERM was sent to the apiserver
    exits: dict[str, dict[str, Any]] = field(default_factory=dict)  # component -> exit record
    died_during_run: list[str] = field(default_factory=list)  # components not running when traffic ended


@dataclass
class Context:
    """What measurements may read. Filled in by the orchestrator as the variant proceeds."""

    variant: Any  # bench.scenario.matrix.Variant
    scratch: Path
    seed: int
    cluster: Any = None  # a running backend (bench.backends.base.Backend)
    receiver: Any = None  # bench.webhook.receiver.Receiver, when the variant has a webhook
    traffic: Any = None  # bench.traffic.launcher.TrafficResult, after the load
    canary_file: Path | None = None
    edges: dict[Edge, float] = field(default_factory=dict)  # when each edge's snapshots began
    window: Window | None = None
    # Set by the orchestrator from earlier collects, for the ones after them:
    bracket: tuple[float, float] | None = None  # the /metrics scrapes around the window (counters' span)
    requests_in_window: int | None = None  # the client's, for per-request figures
    stop: Stop = field(default_factory=Stop)
    started_at: float = field(default_factory=time.time)


class Measurement(Protocol):
    name: ClassVar[str]
    needs: ClassVar[str]  # the backend capability it reads (bench.backends.base.Capabilities); "" = none

    def start(self, ctx: Context) -> None: ...

    def edge(self, ctx: Context, edge: Edge) -> None: ...

    def stop(self, ctx: Context) -> None: ...

    def collect(self, ctx: Context) -> dict[str, Any]: ...


class BaseMeasurement:
    """No-op defaults, so a measurement implements only the calls it needs."""

    name: ClassVar[str] = ""
    needs: ClassVar[str] = ""

    def start(self, ctx: Context) -> None:
        pass

    def edge(self, ctx: Context, edge: Edge) -> None:
        pass

    def stop(self, ctx: Context) -> None:
        pass

    def collect(self, ctx: Context) -> dict[str, Any]:
        return {}


REGISTRY: dict[str, type[BaseMeasurement]] = {}


def register(cls: type[BaseMeasurement]) -> type[BaseMeasurement]:
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in REGISTRY:
        raise ValueError(f"measurement {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls


def create(names: list[str] | tuple[str, ...]) -> list[BaseMeasurement]:
    """Instances of the named measurements, in the order given."""
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise KeyError(f"unknown measurement(s) {unknown}; registered: {sorted(REGISTRY)}")
    return [REGISTRY[n]() for n in names]
