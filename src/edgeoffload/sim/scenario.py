"""Scenarios: what is simulated, as typed structs, from YAML, TOML or Python.

A scenario names device groups (CPU, power model, battery, DVFS levels, a wireless link
that replays a real bandwidth trace, and the applications they run), node groups
(cores, speed, queue discipline, DVFS levels, content cache, failures), an optional
cloud behind a WAN link, and the applications (task sizes, deadlines, DAG stages).
Units are SI and in the field names. ``docs/simulator.md`` documents every field.

Load a file with :func:`load_scenario` (or a bundled one by name: ``manufacturing``,
``smart_city``, ``ultrasound``, ``stress``), or build the structs in Python and pass them
through :func:`validate`. Either way every value is checked, and a problem raises
:class:`~edgeoffload.errors.ConfigError` naming the field, e.g.
``devices[0].link.loss: Expected `float` < 1.0, got 1.5``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from ..errors import ConfigError
from ..traces import DATASETS, WORKLOADS
from .distributions import NonNegative, Positive, Value, lower_bound

Count = Annotated[int, msgspec.Meta(ge=1)]
Fraction = Annotated[float, msgspec.Meta(gt=0, le=1)]
Probability = Annotated[float, msgspec.Meta(ge=0, lt=1)]

#: Folder of the bundled scenario files.
BUNDLED = Path(__file__).parent / "scenarios"


class DevicePower(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Device power (the decision engine's PowerModel): local compute energy is
    ``kappa * f**2`` joules per cycle; radio and idle draw in watts."""

    kappa: Positive = 1e-27
    transmit_w: NonNegative = 1.3
    receive_w: NonNegative = 1.0
    idle_w: NonNegative = 0.3


class LinkSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A device's wireless link: a real trace replayed for both directions.

    ``dataset`` is a bandwidth dataset (:data:`edgeoffload.traces.DATASETS`), ``file`` a
    two-column trace of one's own, or ``constant_mbps`` a fixed capacity. Each device
    draws one trace (whose name contains ``match``) and, with ``random_offset``, starts
    at a random point of it.
    """

    dataset: str = "ghent_4g"
    file: str | None = None
    constant_mbps: Positive | None = None
    match: str = ""
    uplink_scale: Positive = 1.0
    downlink_scale: Positive = 1.0
    random_offset: bool = True
    rtt_ms: NonNegative = 20.0
    #: Probability that one transfer is lost and resent after ``rto_ms``.
    loss: Probability = 0.0
    rto_ms: NonNegative = 200.0
    max_retries: Annotated[int, msgspec.Meta(ge=0)] = 3
    #: The client's failure detector: the device's nodes are unreachable from it (a task
    #: sent then runs on the device) while the answer to a heartbeat sent this long ago
    #: would not be back yet (the link stalled: zero capacity, or bytes queued ahead).
    #: None: nodes stay reachable whatever the link does.
    detector_timeout_s: Positive | None = None


class ArrivalSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """When a device creates tasks: ``poisson`` or ``periodic`` at ``rate_hz`` events per
    second (each creating ``burst`` tasks at once), ``trace``: a real workload
    (:data:`edgeoffload.traces.WORKLOADS`) replayed from a random offset, its time
    scaled so that its mean rate is ``rate_hz``, or ``times``: events at the instants
    ``times_s`` (a real run's request times, replayed once; ``rate_hz`` unused)."""

    process: Literal["poisson", "periodic", "trace", "times"] = "poisson"
    rate_hz: Positive = 1.0
    burst: Count = 1
    workload: str | None = None
    #: trace only: multiply each task's cycles by this column over its median.
    size_column: str | None = None
    #: times only: when the events happen, seconds from the start (a repeated instant is
    #: that many events at once).
    times_s: list[NonNegative] | None = None


class StageSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One stage of a task graph; ``after`` lists earlier stages it needs (default: the
    stage before it). Its input is the outputs of those stages."""

    name: str
    cpu_cycles: Value
    output_bytes: Value = 0.0
    after: list[str] | None = None


class AppSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An application's tasks. With ``stages``, a task is a DAG whose first stage reads
    the input; the app's ``cpu_cycles`` and ``output_bytes`` are then unused."""

    cpu_cycles: Value = 1e9
    input_bytes: Value = 1e5
    output_bytes: Value = 1e3
    mem_mb: Value = 0.0
    io_ops: Value = 0.0
    deadline_s: Positive | None = None
    priority: Annotated[int, msgspec.Meta(ge=-1000, le=1000)] = 0
    #: The result depends only on the input, so a node may answer from its result cache.
    cacheable: bool = False
    #: Distinct inputs (content keys, Zipf-popular); None: every input is new.
    catalog: Count | None = None
    zipf_s: NonNegative = 0.8
    stages: list[StageSpec] | None = None
    #: Where the figures come from.
    source: str = ""


class WorkloadSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    app: str
    arrivals: ArrivalSpec = ArrivalSpec()


class QuotaSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A CPU quota given per period, as Linux CFS bandwidth control gives it
    (``cpu.cfs_quota_us`` per ``cpu.cfs_period_us``): the device's CPU runs at its full
    speed, ``cpu_hz / share``, for ``share * period_s`` of every ``period_s`` (periods from
    time 0), then waits for the next period. On average that is ``cpu_hz``, but a burst
    of work waits whole periods, and a short task at the top of a period runs at full
    speed."""

    share: Fraction
    period_s: Positive = 0.1


class DeviceGroup(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``count`` devices alike (each quantity may be a distribution, drawn per device)."""

    name: str = "device"
    count: Count = 1
    cpu_hz: Value = 1.5e9
    #: Background CPU load, 0..0.95 (slows local tasks by 1 - load).
    load: Value = 0.0
    #: Battery capacity; None: mains powered.
    battery_j: Positive | None = None
    power: DevicePower = DevicePower()
    #: CPU frequency levels as fractions of cpu_hz; a local task runs at the lowest that
    #: meets its deadline (DVFS).
    dvfs_levels: Annotated[list[Fraction], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: [1.0]
    )
    link: LinkSpec = LinkSpec()
    #: CPU cycles every local run costs beyond its task's own: the client's work per
    #: request (event loop, encoding, its thread hand-off), paid on the device's CPU.
    overhead_cycles: NonNegative = 0.0
    #: None: a CPU of continuous speed ``cpu_hz``; else a period-granular quota.
    quota: QuotaSpec | None = None
    #: Nodes each device may use: its home node and the next ones (a ring of cells);
    #: None: every node.
    nodes_per_device: Count | None = None
    workload: Annotated[list[WorkloadSpec], msgspec.Meta(min_length=1)] = []


class FailureSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Crash and recovery: fixed ``[down_s, up_s]`` pairs, and/or random with mean time
    between failures ``mtbf_s`` and mean time to repair ``mttr_s`` (exponential)."""

    at_s: list[tuple[NonNegative, NonNegative]] = []
    mtbf_s: Positive | None = None
    mttr_s: Positive = 30.0


class CacheSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """LRU caches of inputs (by content key: the upload is skipped on a hit) and of
    results (for cacheable apps: the task is not run on a hit); 0 disables."""

    input_items: Annotated[int, msgspec.Meta(ge=0)] = 0
    result_items: Annotated[int, msgspec.Meta(ge=0)] = 0


class NodeGroup(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``count`` edge nodes alike."""

    name: str = "edge"
    count: Count = 1
    cores: Count = 4
    speed_hz: Positive = 3e9
    #: fifo, or priority: the real node's scheduler (priority, then deadline, then
    #: arrival; bounded admission).
    discipline: Literal["fifo", "priority"] = "fifo"
    dvfs_levels: Annotated[list[Fraction], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: [1.0]
    )
    #: Dynamic energy kappa * f**2 per cycle; static draw while up.
    kappa: Positive = 1e-27
    static_w: NonNegative = 0.0
    cache: CacheSpec = CacheSpec()
    #: Queued plus running tasks before a submit is refused (``overloaded``).
    max_pending: Count = 10_000
    failures: FailureSpec = FailureSpec()


class CloudSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One cloud node behind a WAN link (store-and-forward after the wireless hop)."""

    cores: Count = 64
    speed_hz: Positive = 3.5e9
    kappa: Positive = 1e-27
    static_w: NonNegative = 0.0
    wan_rtt_ms: NonNegative = 40.0
    wan_mbps: Positive = 1000.0


class BatchingSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Several tasks from one device to one node in one transfer. ``window_s`` 0 joins
    tasks created at the same instant (the client's same-turn batching)."""

    enabled: bool = True
    window_s: NonNegative = 0.0
    max_items: Count = 64
    #: Bytes each transfer adds (TCP/IP 40 B, RFC 791/793; WebSocket 2-14 B, RFC 6455;
    #: msgpack framing): saved for every task that shares a transfer.
    header_bytes: NonNegative = 66.0


class EstimatorSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a device estimates its link bandwidth from completed transfers (EWMA), from
    those that carry at least ``MIN_SAMPLE_BYTES`` (the client's rule,
    :data:`edgeoffload.decision.estimators.MIN_SAMPLE_BYTES`)."""

    alpha: Fraction = 0.3
    #: The estimate before the first sample; None: the link's long-run mean (as if
    #: learnt from earlier transfers). The client assumes 50 (``client.auto.DEFAULT_BPS``).
    initial_mbps: Positive | None = None


class Scenario(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A whole simulation setup (see the module docstring)."""

    name: str
    duration_s: Positive
    devices: Annotated[list[DeviceGroup], msgspec.Meta(min_length=1)]
    apps: dict[str, AppSpec]
    nodes: list[NodeGroup] = []
    cloud: CloudSpec | None = None
    description: str = ""
    seed: int = 0
    policy: str = "cost_model"
    #: Devices refresh their view (node table, own load, battery, estimates) this often,
    #: the client's heartbeat period; tasks created in one period share one policy call.
    view_interval_s: Positive = 1.0
    #: Devices are spread over this many refresh phases (staggered views).
    view_phases: Count = 10
    batching: BatchingSpec = BatchingSpec()
    estimator: EstimatorSpec = EstimatorSpec()
    #: Placements of one task (first plus resubmissions after a crash or refusal).
    max_attempts: Count = 3
    #: Node-to-node link for DAG stages placed on different nodes.
    backhaul_mbps: Positive = 1000.0
    backhaul_rtt_ms: NonNegative = 2.0
    sources: list[str] = []


def _field_message(exc: msgspec.ValidationError, doc: Any = None) -> str:
    """msgspec says ``... - at `$.devices[0].cpu_hz```; we put the field first and add
    the value it got (``Expected `float` < 1.0, got 1.5``)."""
    text, sep, where = str(exc).rpartition(" - at `$.")
    if not sep:
        return str(exc)
    where = where.rstrip("`")
    found, value = _lookup(doc, where)
    if found and not isinstance(value, (dict, list)):
        text = f"{text}, got {value!r}"
    return f"{where}: {text}"


def _lookup(doc: Any, where: str) -> tuple[bool, Any]:
    """(found, value) at a msgspec path such as ``devices[0].link.loss``."""
    value = doc
    for name, index in re.findall(r"(\w+)|\[(\d+)\]", where):
        try:
            value = value[int(index)] if index else value[name]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, value


def _yaml_message(exc: Exception) -> str:
    """A YAML syntax error in one line: where, what, and the construct it was in."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem is None or mark is None:
        return " ".join(str(exc).split())
    text = f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and start is not None:
        text += f" ({context} at line {start.line + 1}, column {start.column + 1})"
    return text


def from_dict(doc: Any, origin: str = "scenario") -> Scenario:
    """Build and validate a scenario from plain data (a parsed file).

    Raises:
        ConfigError: a field is missing, unknown or invalid (named), or the parts do not
            fit together (e.g. a device runs an app that is not defined).
    """
    try:
        scenario = msgspec.convert(doc, Scenario, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{origin}: {_field_message(exc, doc)}") from None
    _check(scenario, origin)
    return scenario


def validate(scenario: Scenario) -> Scenario:
    """Check a scenario built in Python (structs are not validated when constructed):
    round-trip it through the same validation as a file."""
    return from_dict(msgspec.to_builtins(scenario), f"scenario {scenario.name!r}")


def load_scenario(path_or_name: str | Path) -> Scenario:
    """Read a ``.yaml``/``.yml``/``.toml`` scenario file, or a bundled one by name.

    Raises:
        ConfigError: no such file, unparsable, or invalid (the message names the field).
    """
    path = Path(path_or_name)
    if not path.exists() and path.suffix == "" and (BUNDLED / f"{path}.yaml").exists():
        path = BUNDLED / f"{path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in BUNDLED.glob("*.yaml")))
        raise ConfigError(f"scenario {path_or_name}: no such file (bundled: {known})")
    try:
        text = path.read_text()
        if path.suffix == ".toml":
            doc: Any = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml  # type: ignore[import-untyped]

            doc = yaml.safe_load(text)
        else:
            raise ConfigError(f"scenario {path}: use a .yaml, .yml or .toml file")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"scenario {path}: {exc}") from exc
    except Exception as exc:  # yaml.YAMLError, without importing yaml up front
        if type(exc).__module__.startswith("yaml"):
            raise ConfigError(f"scenario {path}: {_yaml_message(exc)}") from None
        raise
    if not isinstance(doc, dict):
        raise ConfigError(f"scenario {path}: the top level must be a table/mapping")
    return from_dict(doc, f"scenario {path.name}")


def bundled_names() -> list[str]:
    return sorted(p.stem for p in BUNDLED.glob("*.yaml"))


def with_overrides(scenario: Scenario, overrides: dict[str, Any]) -> Scenario:
    """A copy with fields replaced by dotted paths, e.g. ``{"devices[0].count": 50,
    "batching.enabled": False}`` (sweeps and ``--set``). The result is validated.

    Raises:
        ConfigError: a path does not exist or a value is invalid.
    """
    doc = msgspec.to_builtins(scenario)
    for path, value in overrides.items():
        keys: list[str | int] = []
        for part in path.split("."):
            match = re.fullmatch(r"(\w+)((?:\[\d+\])*)", part)
            if not match:
                raise ConfigError(f"override {path!r}: bad path segment {part!r}")
            keys.append(match.group(1))
            keys.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
        target: Any = doc
        for i, key in enumerate(keys[:-1]):
            try:
                target = target[key]
            except (KeyError, IndexError, TypeError):
                where = ".".join(str(k) for k in keys[: i + 1])
                raise ConfigError(f"override {path!r}: no field {where!r}") from None
        last = keys[-1]
        if isinstance(target, dict) and isinstance(last, str):
            fields = {f.name for f in msgspec.structs.fields(Scenario)} if target is doc else None
            if fields is not None and last not in fields:
                raise ConfigError(f"override {path!r}: no field {last!r}")
            target[last] = value
        elif isinstance(target, list) and isinstance(last, int) and last < len(target):
            target[last] = value
        else:
            raise ConfigError(f"override {path!r}: no field {last!r}")
    return from_dict(doc, f"scenario {scenario.name!r} with overrides")


def _check(s: Scenario, origin: str) -> None:
    """The cross-field rules msgspec cannot express."""

    def fail(where: str, problem: str) -> None:
        raise ConfigError(f"{origin}: {where}: {problem}")

    if not s.apps:
        fail("apps", "at least one app is required")
    for name, app in s.apps.items():
        where = f"apps.{name}"
        for field in ("cpu_cycles", "input_bytes", "output_bytes", "mem_mb", "io_ops"):
            if lower_bound(getattr(app, field)) < 0:
                fail(f"{where}.{field}", "must not be negative")
        if app.stages is not None:
            _check_stages(app, where, fail)
    total_nodes = sum(g.count for g in s.nodes)
    for i, group in enumerate(s.devices):
        where = f"devices[{i}]"
        for j, work in enumerate(group.workload):
            if work.app not in s.apps:
                known = ", ".join(sorted(s.apps))
                fail(f"{where}.workload[{j}].app", f"unknown app {work.app!r} (known: {known})")
            arrivals = work.arrivals
            if arrivals.process == "trace":
                if arrivals.workload not in WORKLOADS:
                    fail(
                        f"{where}.workload[{j}].arrivals.workload",
                        f"{arrivals.workload!r} is not a workload trace "
                        f"(known: {', '.join(WORKLOADS)})",
                    )
            elif arrivals.workload is not None or arrivals.size_column is not None:
                fail(
                    f"{where}.workload[{j}].arrivals",
                    "workload and size_column need process: trace",
                )
            if (arrivals.process == "times") != (arrivals.times_s is not None):
                fail(f"{where}.workload[{j}].arrivals", "times_s goes with process: times")
        if lower_bound(group.load) < 0 or _upper(group.load) > 0.95:
            fail(f"{where}.load", "must lie in 0..0.95")
        if lower_bound(group.cpu_hz) <= 0:
            fail(f"{where}.cpu_hz", "must be > 0")
        if group.dvfs_levels != sorted(group.dvfs_levels):
            fail(f"{where}.dvfs_levels", "must be in increasing order")
        link = group.link
        sources = [link.constant_mbps is not None, link.file is not None]
        if sum(sources) > 1:
            fail(f"{where}.link", "give at most one of constant_mbps and file")
        if not any(sources) and link.dataset not in DATASETS:
            fail(
                f"{where}.link.dataset", f"unknown {link.dataset!r} (known: {', '.join(DATASETS)})"
            )
        if group.nodes_per_device is not None and group.nodes_per_device > total_nodes:
            fail(f"{where}.nodes_per_device", f"{group.nodes_per_device} > {total_nodes} nodes")
    for i, node in enumerate(s.nodes):
        if node.dvfs_levels != sorted(node.dvfs_levels):
            fail(f"nodes[{i}].dvfs_levels", "must be in increasing order")
        for j, (down, up) in enumerate(node.failures.at_s):
            if not up > down:
                fail(
                    f"nodes[{i}].failures.at_s[{j}]", f"recovery {up} must come after crash {down}"
                )


def _upper(value: Value) -> float:
    from .distributions import Choice, Uniform

    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Uniform):
        return max(value.low, value.high)
    if isinstance(value, Choice):
        return max(value.values)
    return float("inf")


def _check_stages(app: AppSpec, where: str, fail: Any) -> None:
    stages = app.stages or []
    if not stages:
        fail(f"{where}.stages", "give at least one stage (or leave stages out)")
    seen: list[str] = []
    for k, stage in enumerate(stages):
        if stage.name in seen:
            fail(f"{where}.stages[{k}].name", f"duplicate stage {stage.name!r}")
        if lower_bound(stage.cpu_cycles) < 0 or lower_bound(stage.output_bytes) < 0:
            fail(f"{where}.stages[{k}]", "sizes must not be negative")
        after = stage.after
        if k == 0 and after:
            fail(f"{where}.stages[0].after", "the first stage reads the app's input")
        if k > 0 and after is not None:
            if not after:
                fail(f"{where}.stages[{k}].after", "only the first stage may have no inputs")
            for dep in after:
                if dep not in seen:
                    fail(f"{where}.stages[{k}].after", f"{dep!r} is not an earlier stage")
        seen.append(stage.name)
