"""Configuration of each component, read once and frozen.

Each component takes one frozen struct (:class:`NodeConfig`, :class:`ClientConfig`);
units are in the field names. :func:`load` builds one from, in increasing precedence:
the defaults below, a TOML file (its ``[node]``, ``[controller]`` or ``[client]``
table), environment variables ``EDGEOFFLOAD_<COMPONENT>__<FIELD>`` (e.g.
``EDGEOFFLOAD_NODE__WORKERS=4``; lists as ``a,b``, tables as ``k=v,k2=v2``; see
:func:`env_values`), and explicit overrides (the CLI's flags). An unknown
``EDGEOFFLOAD_*`` variable is refused with the closest known name, rather than
silently ignored. Every value is validated by msgspec on the way in, so a
bad value fails at start-up with :class:`~edgeoffload.errors.ConfigError` naming the
field and the problem, e.g. ``workers: Expected `int` >= 1, got 0``.

msgspec rather than pydantic-settings: the same validation, but importing it costs
about 5 ms against pydantic's ~150 ms, and a node must be serving within 300 ms.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import msgspec

from .auth import DEFAULT_MAX_TTL_S, MIN_SECRET_CHARS, Keys
from .errors import ConfigError
from .metrics import HealthThresholds
from .protocol.codec import DEFAULT_MAX_FRAME_BYTES

if TYPE_CHECKING:
    from pathlib import Path

Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Count = Annotated[int, msgspec.Meta(ge=1)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
#: RFC 7518 section 3.2: an HS256 key at least as long as the hash.
Secret = Annotated[str, msgspec.Meta(min_length=MIN_SECRET_CHARS)]

#: Fields that hold secrets: never command-line flags, redacted by `config show`.
SECRET_FIELDS = frozenset({"auth_secret", "auth_previous_secret", "token", "controller_token"})
#: Secret field -> the field naming a file to read it from.
_SECRET_FILES = {
    "auth_secret": "auth_secret_file",
    "auth_previous_secret": "auth_previous_secret_file",
    "controller_token": "controller_token_file",
}


class SecurityConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Authentication (edgeoffload.auth) and TLS (edgeoffload.tls) of a component that
    listens: shared by the node and the controller."""

    #: Secret for HS256 tokens; when set, requests without a valid token of the
    #: right role are refused. Never a flag (argv is visible to every user in `ps`): set
    #: EDGEOFFLOAD_AUTH_SECRET, the TOML file, or --auth-secret-file.
    auth_secret: Secret | None = None
    #: File holding auth_secret (its first line); for secrets mounted as files.
    auth_secret_file: str | None = None
    #: The previous secret, still accepted during a key rotation
    #: (EDGEOFFLOAD_AUTH_PREVIOUS_SECRET, TOML, or --auth-previous-secret-file).
    auth_previous_secret: Secret | None = None
    #: File holding auth_previous_secret.
    auth_previous_secret_file: str | None = None
    #: Longest token lifetime (exp - iat) accepted.
    auth_max_ttl_s: Positive = DEFAULT_MAX_TTL_S
    #: Certificate (PEM) to serve TLS with: wss:// and https:// instead of ws:// and
    #: http://. Off by default, like authentication, only fit for loopback.
    tls_cert_file: str | None = None
    #: Its private key (PEM), unless it is in tls_cert_file.
    tls_key_file: str | None = None
    #: Mutual TLS: peers connecting here must show a certificate signed by this CA.
    tls_client_ca_file: str | None = None
    #: CA bundle to verify the servers this component connects to (a node's controller),
    #: besides the system's.
    tls_ca_file: str | None = None

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None


class NodeConfig(SecurityConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An edge node (``edgeoffload node``)."""

    host: str = "127.0.0.1"
    #: 0 picks a free port; the node prints the URL it listens on.
    port: Port = 8765
    #: Modules whose @task functions this node serves (only these).
    tasks: list[str] = msgspec.field(default_factory=lambda: ["edgeoffload.examples.tasks"])
    #: Worker processes for pool tasks; 0 means one per core.
    workers: Annotated[int, msgspec.Meta(ge=0)] = 0
    #: Queued plus running pool tasks the node admits before answering `overloaded`.
    max_pending: Count = 10_000
    #: Most of those one client may hold (its token's subject, else its connection).
    #: Each client's share is max_pending // clients holding tasks; this caps it
    #: lower (None: the share alone). See docs/reliability.md, "Fair sharing".
    max_pending_per_client: Count | None = None
    #: Argument bytes held in queued and running pool tasks, shared between clients
    #: like max_pending (each its max_pending_bytes // clients holding tasks; one task
    #: alone is always taken). 1 GiB: 64 frames at the 16 MiB frame limit.
    max_pending_bytes: Count | None = 1 << 30
    #: Inline tasks one connection runs per event-loop turn; the rest wait for later
    #: turns (within the client's share), so a flood cannot hold the loop.
    inline_per_turn: Count = 256
    #: Largest frame accepted; bigger ones close the connection with 1009 unread.
    max_frame_bytes: Count = DEFAULT_MAX_FRAME_BYTES
    #: Most tasks handed to one worker at once. Larger chunks amortise inter-process cost
    #: (one task per call tops out near 2,500 tasks/s here, one list per call near 97,000),
    #: smaller ones let a high-priority arrival overtake sooner.
    max_chunk: Count = 256
    #: Longest expected run time of one chunk, from each task's measured mean run time.
    chunk_budget_s: Positive = 0.02
    #: On SIGTERM, time allowed for admitted work to finish before it is cancelled.
    drain_timeout_s: NonNegative = 10.0
    #: Longest a pool task may run (a task's own ``@task(timeout_s=...)`` is capped by
    #: it); past it, or past its deadline, its worker is stopped and replaced.
    max_task_s: Positive = 600.0
    #: /readyz answers 503 when no worker has been free for this long (all pinned).
    pool_stall_s: Positive = 30.0
    #: The worker pool starts once the node has answered its first task, is asked
    #: /readyz, or gets a pool task; at the latest this long after it listens. Its start
    #: (two more interpreters) would share a CPU quota with the first answers.
    pool_start_delay_s: NonNegative = 1.0
    #: Unsent answers kept per connection; above it the node stops reading the
    #: connection until the client reads (a client that never reads costs this much).
    max_backlog_bytes: Count = 32 << 20
    #: A connection whose backlog stays full this long is closed (code 4002).
    backlog_timeout_s: Positive = 30.0
    #: A connection that sends no hello this long after opening is closed (code 4001).
    hello_timeout_s: Positive = 10.0
    #: Open connections (handshakes included) the node accepts; more get HTTP 503.
    max_connections: Count = 4096
    #: Open connections from one source address; more get HTTP 429.
    max_connections_per_address: Count = 1024
    #: Name reported to clients; defaults to host:port.
    node_id: str | None = None
    #: The node's Ed25519 identity key (PEM), made there at the first start if absent;
    #: it signs welcomes so clients of a controller can check who answers. None: a
    #: fresh key at every start (registered anew with the controller each time).
    identity_key_file: str | None = None
    #: WebSocket keepalive ping interval (None: off). Heartbeats are separate.
    ping_interval_s: Positive | None = 20.0
    #: Controller to register with (ws://HOST:PORT), if any.
    controller: str | None = None
    #: The node's own token for the controller (role node, subject = node_id), when the
    #: controller has a secret: EDGEOFFLOAD_NODE__CONTROLLER_TOKEN, TOML or the file below.
    controller_token: str | None = None
    #: File holding controller_token.
    controller_token_file: str | None = None
    #: Heartbeat period towards the controller (carries the health metrics).
    heartbeat_interval_s: Positive = 1.0
    #: URL clients should use for this node, if not ws://host:port/offload.
    advertise_url: str | None = None
    #: Labels for placement constraints, e.g. {"gpu" = "true"}.
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    #: Cycles per second of one core, for placement; measured at start if not given.
    speed_hz: Positive | None = None
    #: Data-locality cache (node/cache.py): bytes of task inputs sent hash-first and
    #: of cacheable tasks' results kept, least recently used out first; 0 disables it.
    #: 256 MiB holds 64 frames of 4 MB.
    cache_bytes: Annotated[int, msgspec.Meta(ge=0)] = 256 << 20


class ControllerConfig(SecurityConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The controller (``edgeoffload controller``)."""

    host: str = "127.0.0.1"
    #: 0 picks a free port; the controller prints the URL it listens on.
    port: Port = 8700
    #: Where nodes, states, metrics and events are kept: sqlite:///PATH (embedded
    #: default) or postgresql://USER@HOST:PORT/DB (shared).
    store: str = "sqlite:///edgeoffload-controller.db"
    #: Nodes' heartbeat period (they are told at registration).
    heartbeat_interval_s: Positive = 1.0
    #: Phi-accrual levels at which a silent node becomes suspect, then dead.
    suspect_phi: Positive = 8.0
    dead_phi: Positive = 12.0
    #: Silence that is never suspicious.
    acceptable_pause_s: NonNegative = 1.0
    #: How long metric samples are kept.
    retention_s: Positive = 3600.0
    #: A node dead this long leaves the node table (its events stay in the log; it
    #: joins again if it comes back). None: dead nodes stay listed.
    dead_retention_s: Positive | None = 3600.0
    #: The event log keeps at most this many events, none older than events_retention_s.
    events_max: Count = 100_000
    events_retention_s: Positive = 7 * 24 * 3600.0
    #: Health drain thresholds: past one of these for health_drain_after_s (every
    #: sample, at least health_consecutive samples), a node is drained ...
    cpu_percent_max: Annotated[float, msgspec.Meta(gt=0, le=100)] = 85.0
    memory_available_min_bytes: Annotated[int, msgspec.Meta(ge=0)] = 2 * 1024**3
    disk_free_min_bytes: Annotated[int, msgspec.Meta(ge=0)] = 10 * 1024**3
    #: ... and resumed when every metric is back past its resume threshold for
    #: health_resume_after_s. Unset: 15 points under cpu_percent_max, 1.25 times the
    #: memory and disk minimums (hysteresis: a node hovering at one figure never flaps).
    cpu_percent_resume: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    memory_available_resume_bytes: Annotated[int, msgspec.Meta(ge=0)] | None = None
    disk_free_resume_bytes: Annotated[int, msgspec.Meta(ge=0)] | None = None
    health_consecutive: Count = 3
    health_drain_after_s: NonNegative = 10.0
    health_resume_after_s: NonNegative = 30.0
    #: With a secret, REST reads and /metrics still need no token (the probes
    #: /healthz and /readyz never do). Off: any valid token is needed to read.
    open_reads: bool = False

    def __post_init__(self) -> None:
        self.health_thresholds()  # a resume threshold on the wrong side is refused

    def health_thresholds(self) -> HealthThresholds:
        """The health rule these settings give (raises ValueError if inconsistent)."""
        return HealthThresholds(
            cpu_percent_max=self.cpu_percent_max,
            memory_available_min_bytes=self.memory_available_min_bytes,
            disk_free_min_bytes=self.disk_free_min_bytes,
            cpu_percent_resume=self.cpu_percent_resume,
            memory_available_resume_bytes=self.memory_available_resume_bytes,
            disk_free_resume_bytes=self.disk_free_resume_bytes,
            consecutive=self.health_consecutive,
            drain_after_s=self.health_drain_after_s,
            resume_after_s=self.health_resume_after_s,
        )


class ClientConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A client (``Client(...)``)."""

    urls: list[str] = msgspec.field(default_factory=list)
    #: Batch submits into one frame, and let nodes batch their answers (off: one frame
    #: per task each way).
    batching: bool = True
    #: Most submits per frame. Smaller frames pipeline better (client and node work at
    #: once): with 200 tasks in flight, 64 gave 1.5x the throughput of one 200-task frame.
    batch_max_items: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 64
    #: Longest a submit waits for companions. 0 batches what is submitted in the same
    #: event-loop turn, which adds no delay of its own.
    batch_max_delay_s: Annotated[float, msgspec.Meta(ge=0, le=0.001)] = 0.0
    #: Reconnect backoff: first delay, cap (doubled each failure, with jitter).
    reconnect_min_s: Positive = 0.05
    reconnect_max_s: Positive = 5.0
    #: Longest a connection attempt (TCP, TLS, hello) may take. `start()` waits for
    #: each node's first attempt at most this, and at most wait_for_node_s (a task
    #: would not wait longer for a node); links go on trying in the background.
    connect_timeout_s: Positive = 5.0
    #: How many times one task is placed (first try plus resubmissions) before it fails.
    max_attempts: Count = 5
    #: How long a task waits for any node when none is connected and it cannot run locally.
    wait_for_node_s: NonNegative = 10.0
    #: Local execution: processes for non-inline tasks; 0 runs them on one thread, one
    #: at a time in order (client.local says why).
    local_workers: Annotated[int, msgspec.Meta(ge=0)] = 0
    max_frame_bytes: Count = DEFAULT_MAX_FRAME_BYTES
    token: str | None = None
    client_id: str | None = None
    #: Controller whose node table to follow (ws://HOST:PORT); nodes join and leave
    #: the client as the table says.
    controller: str | None = None
    #: CA bundle to verify wss:// nodes and controllers with, besides the system's.
    tls_ca_file: str | None = None
    #: Mutual TLS: the client's certificate (PEM) and its key, shown to servers.
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    #: Pinned node identity keys, node URL -> public key (the node logs it at start):
    #: the client refuses a node at that URL that cannot prove it holds the key. Nodes
    #: from a controller's table are checked against the table's keys without this.
    node_keys: dict[str, str] = msgspec.field(default_factory=dict)
    #: How a node is chosen among those that can take a task.
    placement: Literal["least_in_flight", "least_loaded", "power_of_two", "latency_aware"] = (
        "least_in_flight"
    )
    #: Decides local or edge for where="auto": "auto" (the shipped learned model) or a
    #: policy name, model folder or module:Name (edgeoffload.decision.registry).
    policy: str = "auto"
    #: The device's CPU speed (Hz) the decision engine assumes, for a device whose speed
    #: the OS does not tell (an emulated weak device under a CPU quota: the calibration
    #: loop runs too briefly to see the quota). Set, the machine's load is not read
    #: either: the speed given is what this device gets. None: measured.
    device_cpu_hz: Positive | None = None
    #: Hedged requests for idempotent tasks: a second copy goes to another node when
    #: the first is slower than that task's p95; the first result wins.
    hedge: bool = False
    #: Heartbeat period on each node connection (RTT, load, and liveness samples).
    heartbeat_interval_s: Positive = 0.1
    #: Phi-accrual suspicion at which a silent node is declared dead and its tasks are
    #: placed again (12: about 0.7 s of silence on a quiet link, more when its
    #: heartbeats jitter; see edgeoffload.liveness).
    dead_phi: Positive = 12.0
    #: A silence this long is never suspicious (a busy event loop, a GC pause).
    acceptable_pause_s: NonNegative = 0.3
    #: Arguments of this size or larger (bytes, strings, numpy arrays) go hash-first to nodes
    #: with a cache: the bytes once, then only their digest (the node asks for them
    #: again with need_input if it lost them). 0: always send them whole. Below 64 KiB
    #: the hash and a possible extra round trip cost more than the bytes.
    input_ref_bytes: Annotated[int, msgspec.Meta(ge=0)] = 64 << 10


C = TypeVar("C", NodeConfig, ClientConfig, ControllerConfig)

_SECTIONS: dict[type[NodeConfig | ClientConfig | ControllerConfig], str] = {
    NodeConfig: "node",
    ClientConfig: "client",
    ControllerConfig: "controller",
}


def load(
    cls: type[C],
    *,
    toml_path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> C:
    """Build a config from defaults, TOML, ``EDGEOFFLOAD_*`` variables and overrides.

    Raises:
        ConfigError: unreadable file, unknown field or invalid value (named).
    """
    values: dict[str, Any] = {}
    if toml_path is not None:
        # tomllib (and pathlib) only when there is a file: a node's start-up CPU is its
        # cold start at 0.1 CPU (docs/deployment.md), and most start without one.
        import tomllib

        try:
            with open(toml_path, "rb") as f:
                doc = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {toml_path}: {exc}") from exc
        section = doc.get(_SECTIONS[cls], {})
        if not isinstance(section, dict):
            raise ConfigError(f"config file {toml_path}: [{_SECTIONS[cls]}] must be a table")
        values.update(section)
    env = os.environ if env is None else env
    fields = cls.__struct_fields__
    values.update(env_values(cls, env))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    for secret, file_field in _SECRET_FILES.items():
        if file_field in fields and values.get(file_field) is not None:
            values[secret] = _read_secret(str(values[file_field]), secret, values)
    try:
        return msgspec.convert(values, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_field_message(str(exc))) from None


def _read_secret(path: str, field: str, values: Mapping[str, Any]) -> str:
    """The first line of ``path``, for ``field`` (given once: a file or the value)."""
    if values.get(field) is not None:
        raise ConfigError(f"{field}: give the secret or its file, not both")
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().strip()
    except OSError as exc:
        raise ConfigError(f"{field}_file: cannot read {path}: {exc.strerror}") from None


def keys_of(config: SecurityConfig) -> Keys | None:
    """The secrets a component checks tokens with (``None``: authentication off)."""
    if config.auth_secret is None:
        return None
    return Keys(config.auth_secret, config.auth_previous_secret, config.auth_max_ttl_s)


def unprotected_warning(config: NodeConfig | ControllerConfig, what: str) -> str | None:
    """The loud start-up warning for a component reachable off loopback without a
    secret (authentication is off by default only where nobody else can connect)."""
    if config.auth_secret is not None or is_loopback(config.host):
        return None
    return (
        f"WARNING: this {what} listens on {config.host}, beyond loopback, WITHOUT "
        "authentication: anyone who can reach it can use it. Set EDGEOFFLOAD_AUTH_SECRET "
        "or --auth-secret-file (see `edgeoffload token create --help`)."
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or name) only accepts local connections."""
    if host == "localhost":
        return True
    if host in ("0.0.0.0", "::", ""):  # every address: not loopback (no ipaddress needed)
        return False
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: Site-wide variables: one value for every component that has the field (the site's
#: secret is one secret). A component's own variable takes precedence.
SHARED_ENV = {
    "EDGEOFFLOAD_AUTH_SECRET": "auth_secret",
    "EDGEOFFLOAD_AUTH_PREVIOUS_SECRET": "auth_previous_secret",
}
#: Variables that are not configuration fields, read where they are used: a client
#: token for the commands (submit, status), the data folder, the image's health URL,
#: and one the node's process pool sets for its own workers.
OTHER_ENV = frozenset(
    {"EDGEOFFLOAD_TOKEN", "EDGEOFFLOAD_DATA", "EDGEOFFLOAD_HEALTH_URL", "EDGEOFFLOAD_POOL_PARENT"}
)


def env_name(cls: type[NodeConfig | ClientConfig | ControllerConfig], field: str) -> str:
    """The variable that sets ``field`` of ``cls``: ``EDGEOFFLOAD_<COMPONENT>__<FIELD>``,
    e.g. ``EDGEOFFLOAD_NODE__PORT`` (the double underscore separates the component, as
    Dask's ``DASK_DISTRIBUTED__...`` does, so each component is set on its own)."""
    return f"EDGEOFFLOAD_{_SECTIONS[cls].upper()}__{field.upper()}"


@functools.cache
def fields_of(
    cls: type[NodeConfig | ClientConfig | ControllerConfig],
) -> tuple[msgspec.structs.FieldInfo, ...]:
    """``msgspec.structs.fields(cls)``, made once per class.

    Each call evaluates every field's annotation again (they are strings here, from
    ``from __future__ import annotations``: one ``compile`` per field), about 0.8 ms
    for NodeConfig; a node's start asked for them six times. Its start-up CPU is its
    cold start at 0.1 CPU, ten times over (docs/deployment.md).
    """
    return msgspec.structs.fields(cls)


def known_env() -> set[str]:
    """Every ``EDGEOFFLOAD_*`` variable that means something (from the field names
    alone: their types are not needed here)."""
    names = set(SHARED_ENV) | OTHER_ENV
    for cls in _SECTIONS:
        names.update(env_name(cls, name) for name in cls.__struct_fields__)
    return names


def env_values(
    cls: type[NodeConfig | ClientConfig | ControllerConfig], env: Mapping[str, str]
) -> dict[str, Any]:
    """The fields of ``cls`` set in ``env``, parsed by each field's type.

    Raises:
        ConfigError: an ``EDGEOFFLOAD_*`` variable that no component knows (with the
            closest known name), or a value that does not parse.
    """
    known = known_env()
    for name in env:
        if name.startswith("EDGEOFFLOAD_") and name not in known:
            import difflib

            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(
                f"unknown environment variable {name}{hint}; variables are "
                "EDGEOFFLOAD_<COMPONENT>__<FIELD>, e.g. EDGEOFFLOAD_NODE__PORT"
            )
    values: dict[str, Any] = {}
    for field in fields_of(cls):
        shared = next((v for v, f in SHARED_ENV.items() if f == field.name), None)
        raw = env.get(env_name(cls, field.name), env.get(shared) if shared else None)
        if raw is not None:
            values[field.name] = _parse_env(raw, str(field.type), env_name(cls, field.name))
    return values


def _parse_env(raw: str, kind: str, name: str) -> Any:
    """An environment value by its field's type: a list as ``a,b`` (or a TOML list), a
    table as ``k=v,k2=v2`` (or a TOML inline table); anything else stays a string, which
    msgspec's lax conversion turns into the field's type (``4``, ``0.5``, ``false``)."""
    text = raw.strip()
    if ("dict" in kind and text.startswith("{")) or ("list" in kind and text.startswith("[")):
        import tomllib  # rarely needed (see load)

        try:
            return tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{name}: {exc} in {raw!r}") from None
    if "dict" in kind:
        table = {}
        for pair in (p for p in text.split(",") if p.strip()):
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"{name}: expected KEY=VALUE,KEY2=VALUE2, got {raw!r}")
            table[key.strip()] = value.strip()
        return table
    if "list" in kind:
        return [item.strip() for item in text.split(",") if item.strip()]
    return raw


def _field_message(msg: str) -> str:
    """msgspec says ``Expected `int` >= 1, got 0 - at `$.workers```; we say
    ``workers: Expected `int` >= 1, got 0``."""
    text, sep, where = msg.rpartition(" - at `$.")
    if sep:
        return f"{where.rstrip('`')}: {text}"
    return msg


def to_dict(config: NodeConfig | ClientConfig | ControllerConfig) -> dict[str, Any]:
    """Plain dict of a config (for ``edgeoffload config show``), secrets redacted."""
    values: dict[str, Any] = msgspec.to_builtins(config)
    for name in SECRET_FIELDS & values.keys():
        if values[name] is not None:
            values[name] = "<redacted>"
    return values
