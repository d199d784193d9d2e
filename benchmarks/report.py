"""Results: per-scenario numbers, ratios to the ceilings, targets, machine facts; JSON and
markdown."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from benchmarks.cpu import CpuUse
from benchmarks.loadgen import LoadResult
from benchmarks.probe import HEALTHZ_LIMIT_MS, ProbeResult
from benchmarks.scenarios import Scenario

RSS_LIMIT_MIB: Final = 200.0
#: (g): p50 at concurrency 1, and the health probe beside it.
NAME_P50_LIMIT_MS: Final = 25.0
#: Two API processes keep this share of one process's req/s per busy server core.
SCALE_OUT_SHARE: Final = 0.85
#: Throughput targets per backend: (scenario, ceiling, share, why). SQLite's are its last
#: measured ratios (it must not fall below them); the first goals, 35 % and 10 %, follow as
#: informational rows.
THROUGHPUT_TARGETS: Final[dict[str, tuple[tuple[str, str, float, str], ...]]] = {
    "sqlite": (
        ("a", "e", 0.184, "kept: last measured"),
        ("b", "e", 0.068, "kept: last measured"),
        ("c", "f", 0.15, ""),
    ),
    "postgres": (("a", "e", 0.15, ""), ("b", "e", 0.05, ""), ("c", "f", 0.15, "")),
}
GOALS: Final[dict[str, tuple[tuple[str, str, float, str], ...]]] = {
    "sqlite": (("a", "e", 0.35, "first goal, informational"),
               ("b", "e", 0.10, "first goal, informational")),
}  # fmt: skip
BACKEND_TITLES: Final = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


@dataclass(slots=True)
class ScenarioResult:
    scenario: Scenario
    load: LoadResult | None = None
    warmup: LoadResult | None = None
    #: Peak resident set (VmHWM) of the largest server process, and of each, in MiB.
    rss_mib: float = 0.0
    rss_by_process: dict[int, float] = field(default_factory=dict)
    response_bytes: int = 0
    cpu: CpuUse | None = None
    request_log: dict[str, Any] | None = None
    probe: ProbeResult | None = None
    #: (g): page 1 of each substring, sequential: total and client-side ms.
    breakdown: dict[str, dict[str, float]] = field(default_factory=dict)
    error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error and self.load is not None and self.load.ok

    @property
    def rps_per_server_core(self) -> float | None:
        """Answers per CPU-second of the server (all its processes): throughput per busy core.

        Less sensitive than req/s to other processes taking CPU from the server (not immune:
        they still share caches and, on SMT machines, the core's pipeline).
        """
        if not self.ok or self.load is None or self.cpu is None or self.cpu.server <= 0.05:
            return None
        return self.load.rps / self.cpu.server

    def as_dict(self) -> dict[str, Any]:
        sc = self.scenario
        out: dict[str, Any] = {
            "title": sc.title,
            "kind": sc.kind,
            "ok": self.ok,
            "error": self.error or None,
            "distinct_requests": sc.distinct_requests,
            "connections": sc.connections,
            "workers": sc.workers,
            "response_bytes_sample": self.response_bytes,
        }
        if self.ok and self.load is not None:
            out.update({
                "rps": round(self.load.rps, 1),
                "p50_ms": round(self.load.p50_us / 1000, 3),
                "p99_ms": round(self.load.p99_us / 1000, 3),
                "rss_mib": round(self.rss_mib, 1),
                "rss_mib_by_process": {str(k): round(v, 1) for k, v in self.rss_by_process.items()},
            })  # fmt: skip
            per_core = self.rps_per_server_core
            if per_core is not None:
                out["rps_per_server_core"] = round(per_core, 1)
        if self.cpu is not None:
            out["cores_used"] = self.cpu.as_dict()
            out["server_cores_by_process"] = {
                str(pid): round(c, 3) for pid, c in self.cpu.server_processes
            }
        if self.probe is not None:
            out["healthz_probe"] = self.probe.as_dict()
        if self.breakdown:
            out["page1_by_substring"] = self.breakdown
        if self.request_log is not None:
            out["request_log_check"] = self.request_log
        if self.load is not None:
            out["measured"] = self.load.as_dict()
        if self.warmup is not None:
            out["warmup"] = self.warmup.as_dict()
        if self.notes:
            out["notes"] = self.notes
        return out


@dataclass(slots=True)
class BackendRun:
    """The scenarios of one backend in this run."""

    backend: str
    db_url: str
    #: PostgreSQL: the database whose backends' CPU is counted.
    database: str | None
    results: dict[str, ScenarioResult] = field(default_factory=dict)
    error: str = ""
    notes: list[str] = field(default_factory=list)
    dataset: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    #: Page 1 of (a)/(c) byte for byte as SQLite answers it (traceId aside).
    same_answers: dict[str, bool] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return BACKEND_TITLES.get(self.backend, self.backend)

    def as_dict(self) -> dict[str, Any]:
        results = self.results
        product = [k for k in results if results[k].scenario.kind == "product"]
        return {
            "db_url": self.db_url,
            "error": self.error or None,
            "notes": self.notes,
            "dataset": self.dataset or None,
            "server_settings": self.settings or None,
            "same_answers_as_sqlite": self.same_answers or None,
            "scenarios": {k: r.as_dict() for k, r in results.items()},
            "ratios": {
                k: round(r, 4)
                for k in product
                if (r := rps_ratio(results, k, results[k].scenario.partner)) is not None
            },
            "ratios_per_server_core": {
                k: round(r, 4)
                for k in product
                if (r := per_core_ratio(results, k, results[k].scenario.partner)) is not None
            },
            "scale_out_per_core": scale_out_ratio(results),
        }


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    measured: str
    passed: bool | None  # None: not evaluated (a scenario it needs did not run)
    #: How far from the line: "+2.1 pts", "-4.0 ms", …
    margin: str = ""
    informational: bool = False

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return "n/a"
        word = "met" if self.passed else "missed"
        if self.informational:
            word += " (informational)"
        return f"{word} ({self.margin})" if self.margin else word

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "measured": self.measured, "result": self.verdict,
                "passed": self.passed, "informational": self.informational}  # fmt: skip


def per_core_ratio(results: dict[str, ScenarioResult], key: str, ceiling: str) -> float | None:
    """Like the req/s ratio, on answers per server CPU-second (informational, not a target)."""
    a, b = results.get(key), results.get(ceiling)
    if a is None or b is None:
        return None
    x, y = a.rps_per_server_core, b.rps_per_server_core
    return x / y if x is not None and y else None


def rps_ratio(results: dict[str, ScenarioResult], key: str, ceiling: str) -> float | None:
    a, b = results.get(key), results.get(ceiling)
    if a is None or b is None or not a.ok or not b.ok:
        return None
    assert a.load is not None and b.load is not None
    return a.load.rps / b.load.rps if b.load.rps else None


def scale_out_ratio(results: dict[str, ScenarioResult]) -> float | None:
    """(s2)'s req/s per busy server core over (s1)'s."""
    one, two = results.get("s1"), results.get("s2")
    if one is None or two is None:
        return None
    x, y = two.rps_per_server_core, one.rps_per_server_core
    return round(x / y, 4) if x is not None and y else None


def _pct(value: float) -> str:
    return f"{value:.1%}".replace("%", " %")


def _throughput_target(
    results: dict[str, ScenarioResult], key: str, ceiling: str, share: float, why: str,
    *, informational: bool = False,
) -> Target:  # fmt: skip
    name = f"({key}) ≥ {_pct(share)} of ({ceiling}) req/s" + (f" ({why})" if why else "")
    if key not in results or ceiling not in results:
        return Target(name, "not run", None, informational=informational)
    ratio = rps_ratio(results, key, ceiling)
    if ratio is None:
        failed = [k for k in (key, ceiling) if not results[k].ok]
        return Target(name, f"scenario {', '.join(failed)} failed", False,
                      informational=informational)  # fmt: skip
    margin = f"{(ratio - share) * 100:+.1f} pts"
    return Target(name, _pct(ratio), ratio >= share, margin, informational)


def targets(run: BackendRun) -> list[Target]:
    results = run.results
    if run.error:
        return [Target(f"{run.title}: every target", run.error, None)]
    out = [_throughput_target(results, *t) for t in THROUGHPUT_TARGETS.get(run.backend, ())]
    name = "(d) p50 ≤ 3 × (c) p50"
    c, d = results.get("c"), results.get("d")
    if c is None or d is None:
        out.append(Target(name, "not run", None))
    elif not (c.ok and d.ok):
        out.append(Target(name, "scenario failed", False))
    else:
        assert c.load is not None and d.load is not None
        factor = d.load.p50_us / c.load.p50_us
        out.append(Target(
            name, f"{d.load.p50_us / 1000:.1f} ms = {factor:.2f} × {c.load.p50_us / 1000:.1f} ms",
            factor <= 3.0, f"{factor:.2f}× vs 3×",
        ))  # fmt: skip
    g = results.get("g")
    name = f"(g) p50 ≤ {NAME_P50_LIMIT_MS:g} ms at concurrency 1"
    probe_name = f"/healthz during (g) < {HEALTHZ_LIMIT_MS:g} ms (every probe)"
    if g is None:
        out += [Target(name, "not run", None), Target(probe_name, "not run", None)]
    elif not g.ok or g.load is None:
        out += [
            Target(name, "scenario failed", False),
            Target(probe_name, "scenario failed", False),
        ]
    else:
        p50 = g.load.p50_us / 1000
        out.append(Target(
            name, f"{p50:.1f} ms (p99 {g.load.p99_us / 1000:.1f} ms)",
            p50 <= NAME_P50_LIMIT_MS, f"{p50 - NAME_P50_LIMIT_MS:+.1f} ms",
        ))  # fmt: skip
        pr = g.probe
        if pr is None or not pr.latencies_ms:
            out.append(Target(probe_name, "no probe answered", False))
        else:
            passed = pr.ok and pr.max_ms < HEALTHZ_LIMIT_MS
            out.append(Target(
                probe_name,
                f"max {pr.max_ms:.1f} ms, p99 {pr.percentile(99):.1f} ms, p50 "
                f"{pr.percentile(50):.1f} ms ({len(pr.latencies_ms)} probes, {pr.errors} errors)",
                passed, f"{pr.max_ms - HEALTHZ_LIMIT_MS:+.1f} ms",
            ))  # fmt: skip
    if "s1" in results or "s2" in results:
        name = (
            f"2 API processes ≥ {_pct(SCALE_OUT_SHARE)} of 1 process's req/s per busy server core"
        )
        ratio = scale_out_ratio(results)
        if ratio is None:
            out.append(Target(name, "scenario failed or not run", False))
        else:
            one, two = results["s1"].rps_per_server_core, results["s2"].rps_per_server_core
            out.append(Target(
                name, f"{_pct(ratio)} ({two:,.0f} vs {one:,.0f} req/s per core)",
                ratio >= SCALE_OUT_SHARE, f"{(ratio - SCALE_OUT_SHARE) * 100:+.1f} pts",
            ))  # fmt: skip
    product = [r for r in results.values() if r.scenario.kind == "product"]
    name = f"RSS ≤ {RSS_LIMIT_MIB:.0f} MiB per server process (VmHWM, product scenarios)"
    if not product:
        out.append(Target(name, "not run", None))
    else:
        measured = [r.rss_mib for r in product if r.ok]
        peak = max(measured, default=0.0)
        if not all(r.ok for r in product):
            text = f"max {peak:.1f} MiB of those that ran" if measured else "no data"
            out.append(Target(name, text, False))
        else:
            out.append(Target(name, f"max {peak:.1f} MiB", peak <= RSS_LIMIT_MIB,
                              f"{peak - RSS_LIMIT_MIB:+.0f} MiB"))  # fmt: skip
    out += [_throughput_target(results, *t, informational=True) for t in GOALS.get(run.backend, ())]
    return out


# -- machine facts ----------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    try:
        proc = subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return ""
    return proc.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _mem_total_mib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024, 0)
    except OSError:
        pass
    return 0.0


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_facts(repo: Path) -> dict[str, Any]:
    commit = _git(repo, "rev-parse", "HEAD")
    dirty = bool(_git(repo, "status", "--porcelain", "--untracked-files=no"))
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "mem_total_mib": _mem_total_mib(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "sqlite": sqlite3.sqlite_version,
        "packages": {
            d: _version(d)
            for d in ("nxlink", "uvicorn", "starlette", "orjson", "uvloop", "httptools")
        },
        "git_commit": commit,
        "git_dirty": dirty,
    }


# -- rendering --------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _scenario_table(run: BackendRun) -> list[str]:
    results = run.results
    lines = [
        "| scenario | req/s | p50 ms | p99 ms | RSS MiB | vs ceiling | req/s per server core "
        "| cores: server / db / load gen. / other |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for res in results.values():
        sc = res.scenario
        if not res.ok:
            reason = res.error or "errors during the run"
            if len(reason) > 120:
                reason = reason[:117] + "..."
            reason = reason.replace("|", "\\|")
            lines.append(f"| {sc.label} | **failed**: {reason} | | | | | | |")
            continue
        assert res.load is not None
        vs = ""
        if sc.kind == "product" and sc.key not in ("g",):
            ratio = rps_ratio(results, sc.key, sc.partner)
            vs = f"{_pct(ratio)} of ({sc.partner})" if ratio is not None else ""
        per_core = res.rps_per_server_core
        used = res.cpu
        cores = (f"{used.server:.2f} / {used.database:.2f} / {used.loadgen:.2f} / {used.other:.2f}"
                 if used is not None else "")  # fmt: skip
        lines.append(
            f"| {sc.label} | {_fmt(res.load.rps)} | {_fmt(res.load.p50_us / 1000, 2)} "
            f"| {_fmt(res.load.p99_us / 1000, 2)} | {_fmt(res.rss_mib)} | {vs} "
            f"| {_fmt(per_core, 0) if per_core is not None else ''} | {cores} |"
        )
    return lines


def _name_lines(run: BackendRun) -> list[str]:
    g = run.results.get("g")
    if g is None or not g.ok:
        return []
    lines: list[str] = []
    if g.probe is not None:
        p = g.probe.as_dict()
        lines += ["", f"(g) `/healthz` beside it (a new connection every 50 ms): {p['probes']} "
                  f"probes, p50 {p['p50_ms']:.1f} ms, p99 {p['p99_ms']:.1f} ms, max "
                  f"{p['max_ms']:.1f} ms, {p['errors']} errors."]  # fmt: skip
    if g.breakdown:
        lines += ["", "(g) page 1 by substring, one request at a time (standard-library client):",
                  "", "| taskName | matching tasks | median ms | max ms |",
                  "| --- | ---: | ---: | ---: |"]  # fmt: skip
        for name, v in g.breakdown.items():
            lines.append(f"| `{name}` | {int(v['total']):,} | {v['median_ms']:.1f} "
                         f"| {v['max_ms']:.1f} |")  # fmt: skip
    return lines


def _scale_lines(run: BackendRun) -> list[str]:
    rows = [run.results[k] for k in ("s1", "s2") if k in run.results]
    if not rows:
        return []
    lines = ["", "Scale-out ((a)'s requests, 32 connections):", "",
             "| API processes | req/s | p50 ms | server cores | req/s per busy server core "
             "| db cores | answers per worker | RSS MiB per worker |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]  # fmt: skip
    for res in rows:
        sc = res.scenario
        if not res.ok or res.load is None or res.cpu is None:
            lines.append(f"| {sc.workers} | **failed**: {res.error} | | | | | | |")
            continue
        served: dict[str, int] = (res.request_log or {}).get("per_process", {})
        total = sum(served.values()) or 1
        shares = " / ".join(f"{c / total:.0%}" for c in served.values())
        # The processes that answered (uvicorn's supervisor, with --workers 2, is in the JSON).
        rss = " / ".join(f"{res.rss_by_process.get(int(pid), 0.0):.0f}" for pid in served)
        per_core = res.rps_per_server_core
        lines.append(
            f"| {sc.workers} | {_fmt(res.load.rps)} | {_fmt(res.load.p50_us / 1000, 2)} "
            f"| {res.cpu.server:.2f} | {_fmt(per_core, 0) if per_core else ''} "
            f"| {res.cpu.database:.2f} | {shares} | {rss} |"
        )
    return lines


def markdown(runs: dict[str, BackendRun], meta: dict[str, Any]) -> str:
    lines: list[str] = []
    for run in runs.values():
        lines += [f"### {run.title}", ""]
        if run.error:
            lines += [f"Not measured: {run.error}", ""]
            continue
        lines += _scenario_table(run)
        lines += _name_lines(run)
        lines += _scale_lines(run)
        notes = [
            f"- ({r.scenario.key}) {note}"
            for r in run.results.values()
            for note in r.notes
            # The quiet-wait note is in the JSON; what counts is the load while measured.
            if not note.startswith(("server log tail", "machine not quiet"))
        ] + [f"- {note}" for note in run.notes]
        if run.same_answers:
            same = ", ".join(f"({k}) {'same' if v else 'DIFFERENT'}"
                             for k, v in run.same_answers.items())  # fmt: skip
            notes.append(f"- page 1 against SQLite's answer, byte for byte but the traceId: {same}")
        if notes:
            lines += ["", "Notes:", *notes]
        lines += ["", "| target | measured | result |", "| --- | --- | --- |"]
        lines += [f"| {t.name} | {t.measured} | {t.verdict} |" for t in targets(run)]
        if run.dataset:
            ds = run.dataset
            settings = ", ".join(f"{k} {v}" for k, v in run.settings.items())
            lines += ["", f"Data: copied once with `copy_database` in {ds['load_seconds']:.0f} s "
                      f"({ds['db_mib']:,.0f} MiB, schema version {ds['schema_version']}). "
                      f"Server: {settings}."]  # fmt: skip
        lines.append("")
    m, cfg = meta["machine"], meta["config"]
    commit = (m["git_commit"] or "unknown")[:12] + (" (dirty tree)" if m["git_dirty"] else "")
    lines += [
        f"Load: {cfg['loadgen']}, {cfg['warmup_s']:g} s warm-up + {cfg['duration_s']:g} s "
        "measured per scenario, each on a fresh `nxlink serve` (1 worker unless said), "
        "127.0.0.1. Cores: server = all its processes, db = the PostgreSQL backends of the "
        "benchmark database (SQLite runs inside the server), load gen. = wrk and this process "
        "(the /healthz probe included). "
        f"Data: {meta['dataset']['total_tasks']:,} tasks, "
        f"{meta['dataset']['big_tasks']:,} in the queried account. "
        f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), Python {m['python']}, "
        f"SQLite {m['sqlite']}, commit {commit}, {meta['generated']}.",
    ]
    return "\n".join(lines) + "\n"


def write(out_dir: Path, name: str, data: dict[str, Any], md: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{name}.json"
    md_path = out_dir / f"{name}.md"
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path.write_text(md, encoding="utf-8")
    return json_path, md_path
