"""Real bandwidth and workload traces from ``data/``, in one shape each.

Every bandwidth dataset in ``data/bandwidth`` loads as a list of :class:`Trace`, a
piecewise-constant link capacity in **Mbit/s**, whatever its file format and unit (see
``data/SOURCES.md``; each loader's docstring says how its format is read). Traces are
**not resampled**: sample ``i`` holds from ``times_s[i]`` until ``times_s[i + 1]``, the
last one until ``duration_s``, after which the trace repeats (as mahimahi's ``mm-link``
loops its files). :meth:`Trace.resample` gives fixed-interval samples when a model wants
them (exact time averages, no interpolation).

Every workload file in ``data/workload`` loads as :class:`Arrivals`: sorted arrival
times in seconds from the first request, plus per-request columns with units in their
names.

Stable names (used by scenario files and the decision engine's training)::

    load_dataset("pensieve_train" | "pensieve_test" | "ghent_4g" | "nyu_lte" |
                 "mahimahi" | "ucc_5g") -> list[Trace]
    load_workload("alibaba_gpu" | "alibaba_lora" | "azure_code" | "azure_conv") -> Arrivals

Bad paths, unknown names and malformed files raise
:class:`~edgeoffload.errors.ConfigError` naming the file and the problem.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .datasets import data_dir
from .errors import ConfigError

F64 = NDArray[np.float64]

#: Dataset name -> folder (or file) under ``data/bandwidth``.
DATASETS: dict[str, str] = {
    "pensieve_train": "pensieve/cooked_traces",
    "pensieve_test": "pensieve/cooked_test_traces",
    "ghent_4g": "ghent_4g_json",
    "nyu_lte": "nyu_mets/Sample_Traces",
    "mahimahi": "mahimahi",
    "ucc_5g": "ucc_5g/5G-production-dataset.zip",
}

#: Workload name -> file under ``data/workload``.
WORKLOADS: dict[str, str] = {
    "alibaba_gpu": "alibaba/openb_pod_list_default.csv",
    "alibaba_lora": "alibaba/lora_request_trace.csv",
    "azure_code": "azure/AzureLLMInferenceTrace_code.csv",
    "azure_conv": "azure/AzureLLMInferenceTrace_conv.csv",
}


@dataclass(frozen=True, slots=True)
class Trace:
    """A link capacity over time (see the module docstring for the semantics).

    Attributes:
        name: the source file's name (with a direction suffix where a file has two).
        dataset: one of :data:`DATASETS`.
        times_s: start of each sample; ``times_s[0] == 0``, strictly increasing.
        mbps: capacity during each sample, Mbit/s, finite and >= 0.
        duration_s: length of one period, > ``times_s[-1]``.
        direction: ``"down"``, ``"up"`` or ``""`` when the source does not say.
    """

    name: str
    dataset: str
    times_s: F64
    mbps: F64
    duration_s: float
    direction: str = ""

    def __post_init__(self) -> None:
        # Own read-only float64 copies: loaded traces are cached and shared.
        t = np.array(self.times_s, dtype=np.float64)
        v = np.array(self.mbps, dtype=np.float64)
        t.flags.writeable = False
        v.flags.writeable = False
        object.__setattr__(self, "times_s", t)
        object.__setattr__(self, "mbps", v)
        problem = None
        if t.ndim != 1 or t.shape != v.shape or t.size == 0:
            problem = f"times {t.shape} and values {v.shape} must be equal, non-empty 1-d arrays"
        elif t[0] != 0.0 or np.any(np.diff(t) <= 0):
            problem = "sample times must start at 0 and strictly increase"
        elif not np.all(np.isfinite(v)) or np.any(v < 0):
            problem = "capacities must be finite and >= 0"
        elif not self.duration_s > t[-1]:
            problem = f"duration {self.duration_s} s must exceed the last sample time {t[-1]} s"
        elif not np.any(v > 0):
            problem = "capacity is zero throughout"
        if problem:
            where = f"file {self.name}" if self.dataset == "file" else f"{self.dataset}/{self.name}"
            raise ConfigError(f"trace {where}: {problem}")

    def __len__(self) -> int:
        return int(self.times_s.size)

    @property
    def spans_s(self) -> F64:
        """How long each sample holds."""
        return np.diff(np.append(self.times_s, self.duration_s))

    def mean_mbps(self) -> float:
        """Time-weighted mean capacity over one period."""
        return float(np.dot(self.mbps, self.spans_s) / self.duration_s)

    def cumulative_bits(self) -> F64:
        """Bits the link can carry from 0 to each sample start, then to ``duration_s``
        (length ``len + 1``): the integral that transfer times are computed from."""
        return np.concatenate(([0.0], np.cumsum(self.mbps * 1e6 * self.spans_s)))

    def capacity_at(self, t_s: F64 | float) -> F64:
        """Capacity (Mbit/s) at times ``t_s`` (any real; the trace repeats)."""
        phase = np.mod(np.asarray(t_s, dtype=np.float64), self.duration_s)
        index = np.searchsorted(self.times_s, phase, side="right") - 1
        return self.mbps[index]

    def resample(self, step_s: float) -> Trace:
        """Fixed ``step_s`` samples, each the exact mean capacity over its interval (the
        last interval may be shorter; the period is unchanged)."""
        if not step_s > 0:
            raise ConfigError(f"resample step must be > 0 s, got {step_s}")
        edges = np.arange(0.0, self.duration_s, step_s)
        ends = np.minimum(np.append(edges[1:], self.duration_s), self.duration_s)
        cum_t = np.append(self.times_s, self.duration_s)
        cum = self.cumulative_bits()
        bits = np.interp(ends, cum_t, cum) - np.interp(edges, cum_t, cum)
        mbps = bits / (ends - edges) / 1e6
        return Trace(self.name, self.dataset, edges, mbps, self.duration_s, self.direction)

    def scaled(self, factor: float) -> Trace:
        """The same trace with every capacity multiplied by ``factor`` (> 0)."""
        if not factor > 0:
            raise ConfigError(f"trace scale must be > 0, got {factor}")
        return Trace(
            self.name,
            self.dataset,
            self.times_s,
            self.mbps * factor,
            self.duration_s,
            self.direction,
        )


def _trace(name: str, dataset: str, starts: F64, mbps: F64, last_span_s: float, **kw: str) -> Trace:
    """Shift sample starts to 0 and close the period one ``last_span_s`` after the last."""
    if starts.size == 0:
        raise ConfigError(f"trace {dataset}/{name}: no samples")
    starts = starts - starts[0]
    return Trace(name, dataset, starts, mbps, float(starts[-1] + last_span_s), **kw)


def _median_step(starts: F64) -> float:
    return float(np.median(np.diff(starts))) if starts.size > 1 else 1.0


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read trace file {path}: {exc}") from exc


def _files(folder: Path, pattern: str = "*") -> list[Path]:
    if not folder.is_dir():
        raise ConfigError(f"trace folder not found: {folder}")
    files = sorted(p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("."))
    if not files:
        raise ConfigError(f"no trace files in {folder}")
    return files


def load_pensieve(folder: Path, dataset: str = "pensieve_test") -> list[Trace]:
    """Pensieve "cooked" traces: ``time_s  Mbit/s`` per line. Each sample holds until the
    next; the last holds for the file's median sample interval."""
    return [_pensieve_file(path, dataset) for path in _files(folder)]


#: What a trace file must hold (said when it does not).
TRACE_FORMAT = "two columns per line, seconds and Mbit/s, separated by spaces, no header"


def _pensieve_file(path: Path, dataset: str) -> Trace:
    text = _read_text(path)
    if not text.strip():
        raise ConfigError(f"trace file {path}: empty (expected {TRACE_FORMAT})")
    try:
        table = np.loadtxt(io.StringIO(text), dtype=np.float64, ndmin=2)
    except ValueError as exc:
        line_no, line = next(
            ((i, ln) for i, ln in enumerate(text.splitlines(), 1) if not _numbers(ln)),
            (0, ""),
        )
        bad = f"line {line_no} is {line.strip()[:40]!r}: " if line_no else f"{exc}: "
        raise ConfigError(f"trace file {path}: {bad}expected {TRACE_FORMAT}") from None
    if table.shape[1] != 2:
        raise ConfigError(f"trace file {path}: {table.shape[1]} columns, expected {TRACE_FORMAT}")
    starts = table[:, 0]
    return _trace(path.name, dataset, starts, table[:, 1], _median_step(starts))


def _numbers(line: str) -> bool:
    """Whether a line is blank, a comment, or all numbers (what loadtxt reads)."""
    words = line.split("#")[0].split()
    try:
        [float(w) for w in words]
    except ValueError:
        return False
    return True


def load_ghent(folder: Path) -> list[Trace]:
    """Ghent 4G JSON (ReCoCo conversion): each record ends at ``time`` (s) and lasts
    ``duration`` ms; ``capacity`` is bytes per ms, so Mbit/s = capacity * 0.008."""
    traces = []
    for path in _files(folder, "*.json"):
        try:
            pattern = json.loads(_read_text(path))["uplink"]["trace_pattern"]
            ends = np.array([r["time"] for r in pattern], dtype=np.float64)
            spans = np.array([r["duration"] for r in pattern], dtype=np.float64) / 1000.0
            mbps = np.array([r["capacity"] for r in pattern], dtype=np.float64) * 0.008
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"trace file {path}: not a ReCoCo trace_pattern ({exc})") from exc
        if not ends.size:
            raise ConfigError(f"trace ghent_4g/{path.stem}: no samples")
        starts = np.maximum.accumulate(ends - spans)
        keep = np.append(True, np.diff(starts) > 0)  # rounding can repeat a start
        traces.append(_trace(path.stem, "ghent_4g", starts[keep], mbps[keep], float(spans[-1])))
    return traces


_NYU_UNITS = {"Mbits/sec": 1.0, "Kbits/sec": 1e-3, "bits/sec": 1e-6}


def load_nyu(folder: Path) -> list[Trace]:
    """NYU METS sample traces: one iPerf sample per second, ``value,unit`` with the unit
    honoured per row (Mbits/sec, Kbits/sec or bits/sec)."""
    traces = []
    for path in _files(folder, "*.csv"):
        values = []
        for line_no, row in enumerate(csv.reader(io.StringIO(_read_text(path))), 1):
            if not row:
                continue
            try:
                values.append(float(row[0]) * _NYU_UNITS[row[1].strip()])
            except (IndexError, KeyError, ValueError):
                raise ConfigError(f"trace file {path}, line {line_no}: bad row {row!r}") from None
        starts = np.arange(len(values), dtype=np.float64)
        traces.append(_trace(path.stem, "nyu_lte", starts, np.array(values), 1.0))
    return traces


def load_mahimahi(folder: Path, bin_s: float = 1.0) -> list[Trace]:
    """mahimahi packet-delivery traces: each line is a millisecond timestamp at which
    one 1500-byte packet may be delivered. Counted in ``bin_s`` bins, so Mbit/s =
    packets * 1500 * 8 / bin_s / 1e6; the period is the last timestamp (the last bin is
    shorter and averaged over its own length). Direction from the suffix."""
    traces = []
    for path in _files(folder):
        text = _read_text(path)
        if not text.strip():  # loadtxt would warn, and max() of nothing would raise
            raise ConfigError(f"trace file {path}: no packet timestamps")
        try:
            ms = np.loadtxt(io.StringIO(text), dtype=np.float64, ndmin=1)
        except ValueError as exc:
            raise ConfigError(f"trace file {path}: {exc}") from exc
        period_s = float(ms.max()) / 1000.0
        if period_s <= 0:
            raise ConfigError(f"trace file {path}: no packet timestamps")
        starts = np.arange(0.0, period_s, bin_s)
        counts = np.bincount(
            np.minimum((ms / 1000.0 / bin_s).astype(np.int64), starts.size - 1),
            minlength=starts.size,
        )
        spans = np.diff(np.append(starts, period_s))
        mbps = counts * 1500.0 * 8.0 / spans / 1e6
        direction = path.suffix.lstrip(".") if path.suffix in (".up", ".down") else ""
        traces.append(Trace(path.name, "mahimahi", starts, mbps, period_s, direction))
    return traces


def load_ucc_5g(
    zip_path: Path, folders: Iterable[str] = ("Download",), direction: str = "down"
) -> list[Trace]:
    """UCC 5G sessions (G-NetTrack CSVs inside the zip; macOS entries skipped).

    ``DL_bitrate`` (``direction="down"``) or ``UL_bitrate`` (``"up"``) in kbit/s. Only
    rows logged while downloading (``State == "D"``) are kept: idle rows carry no
    traffic, so no capacity was measured. Rows sharing a 1-s timestamp are averaged.
    Default ``folders``: the bulk-download sessions, the only ones where the measured
    rate is the link's capacity (the Netflix and Amazon Prime players pause when their
    buffer is full).
    """
    column = {"down": "DL_bitrate", "up": "UL_bitrate"}.get(direction)
    if column is None:
        raise ConfigError(f"ucc_5g direction must be 'down' or 'up', got {direction!r}")
    wanted = tuple(folders)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"cannot open trace archive {zip_path}: {exc}") from exc
    traces = []
    with archive:
        for entry in sorted(archive.namelist()):
            parts = entry.split("/")
            if (
                parts[0] == "__MACOSX"
                or not entry.endswith(".csv")
                or len(parts) < 2  # a file at the top: not in a session folder
                or parts[1] not in wanted
            ):
                continue
            text = archive.read(entry).decode("utf-8", errors="replace")
            seconds: dict[np.datetime64, list[float]] = {}
            for row in csv.DictReader(io.StringIO(text)):
                value = row.get(column, "-")
                if row.get("State") != "D" or value in ("-", "", None):
                    continue
                stamp = np.datetime64(_ucc_time(row["Timestamp"]), "s")
                seconds.setdefault(stamp, []).append(float(value))
            if len(seconds) < 2:
                continue
            stamps = np.array(sorted(seconds), dtype="datetime64[s]")
            starts = (stamps - stamps[0]).astype(np.float64)
            mbps = np.array([np.mean(seconds[s]) for s in stamps]) / 1000.0
            name = "/".join(parts[1:]).removesuffix(".csv")
            traces.append(_trace(name, "ucc_5g", starts, mbps, 1.0, direction=direction))
    if not traces:
        raise ConfigError(f"no sessions from folders {wanted} in {zip_path}")
    return traces


def _ucc_time(stamp: str) -> str:
    """``2019.12.16_13.40.04`` -> ``2019-12-16T13:40:04``."""
    date, _, clock = stamp.partition("_")
    return f"{date.replace('.', '-')}T{clock.replace('.', ':')}"


_LOADERS: dict[str, Callable[[Path], list[Trace]]] = {
    "pensieve_train": lambda p: load_pensieve(p, "pensieve_train"),
    "pensieve_test": lambda p: load_pensieve(p, "pensieve_test"),
    "ghent_4g": load_ghent,
    "nyu_lte": load_nyu,
    "mahimahi": load_mahimahi,
    "ucc_5g": load_ucc_5g,
}


def load_dataset(name: str, data: Path | None = None) -> list[Trace]:
    """Every trace of a named bandwidth dataset, sorted by file name.

    Args:
        name: one of :data:`DATASETS`.
        data: the data folder (default :func:`edgeoffload.datasets.data_dir`).

    Raises:
        ConfigError: unknown name, missing folder or malformed file.
    """
    if name not in DATASETS:
        raise ConfigError(f"unknown bandwidth dataset {name!r} (known: {', '.join(DATASETS)})")
    return list(_load_cached(name, (data or data_dir()) / "bandwidth"))


@functools.lru_cache(maxsize=16)
def _load_cached(name: str, root: Path) -> tuple[Trace, ...]:
    """Parsed once per process (the simulator loads a dataset for every run)."""
    return tuple(_LOADERS[name](root / DATASETS[name]))


def load_trace_file(path: str | Path) -> Trace:
    """One trace from a two-column ``time_s Mbit/s`` text file (Pensieve's format), for
    traces of one's own (dataset ``"file"``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"trace file not found: {path}")
    return _pensieve_file(path, "file")


# -- workloads ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arrivals:
    """A real request arrival process.

    Attributes:
        name: one of :data:`WORKLOADS`.
        arrival_s: arrival times, sorted, seconds from the first request (so [0] == 0).
        columns: per-request values, same length, units in the names (e.g.
            ``exec_time_s``, ``context_tokens``).
    """

    name: str
    arrival_s: F64
    columns: Mapping[str, F64] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.arrival_s.size)

    @property
    def duration_s(self) -> float:
        return float(self.arrival_s[-1]) if self.arrival_s.size else 0.0

    def mean_rate_hz(self) -> float:
        """Requests per second over the trace."""
        return (len(self) - 1) / self.duration_s if self.duration_s > 0 else 0.0


def _read_rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"cannot read workload file {path}: {exc}") from exc


def _number(row: dict[str, str], key: str) -> float:
    value = row.get(key)
    return float(value) if value not in (None, "") else float("nan")


def _arrivals(name: str, times: F64, columns: dict[str, F64]) -> Arrivals:
    order = np.argsort(times, kind="stable")
    times = times[order]
    return Arrivals(name, times - times[0], {k: v[order] for k, v in columns.items()})


def load_workload(name: str, data: Path | None = None) -> Arrivals:
    """A named workload trace (see :data:`WORKLOADS` and ``data/SOURCES.md``).

    Columns: ``alibaba_gpu``: cpu_milli, memory_mib, num_gpu, gpu_milli, lifetime_s;
    ``alibaba_lora`` (successful requests only): exec_time_s, num_inference_steps,
    num_images; ``azure_*``: context_tokens, generated_tokens.

    Raises:
        ConfigError: unknown name, missing or malformed file.
    """
    if name not in WORKLOADS:
        raise ConfigError(f"unknown workload {name!r} (known: {', '.join(WORKLOADS)})")
    path = (data or data_dir()) / "workload" / WORKLOADS[name]
    rows = _read_rows(path)
    if not rows:
        raise ConfigError(f"workload file {path} has no rows")
    try:
        if name == "alibaba_gpu":
            created = np.array([_number(r, "creation_time") for r in rows])
            cols = {
                k: np.array([_number(r, k) for r in rows])
                for k in ("cpu_milli", "memory_mib", "num_gpu", "gpu_milli")
            }
            cols["lifetime_s"] = np.array([_number(r, "deletion_time") for r in rows]) - created
            return _arrivals(name, created, cols)
        if name == "alibaba_lora":
            rows = [r for r in rows if r["predict_status"] == "SUCCEED"]
            stamps = np.array([r["gmt_create"] for r in rows], dtype="datetime64[s]")
            cols = {
                "exec_time_s": np.array([_number(r, "exec_time_seconds") for r in rows]),
                "num_inference_steps": np.array([_number(r, "num_inference_steps") for r in rows]),
                "num_images": np.array([_number(r, "num_images_per_prompt") for r in rows]),
            }
            return _arrivals(name, (stamps - stamps.min()).astype(np.float64), cols)
        stamps = np.array([r["TIMESTAMP"] for r in rows], dtype="datetime64[us]")
        cols = {
            "context_tokens": np.array([_number(r, "ContextTokens") for r in rows]),
            "generated_tokens": np.array([_number(r, "GeneratedTokens") for r in rows]),
        }
        seconds = (stamps - stamps.min()).astype(np.float64) / 1e6
        return _arrivals(name, seconds, cols)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"workload file {path}: unexpected format ({exc})") from exc
