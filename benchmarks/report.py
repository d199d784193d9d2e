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
from benchmarks.scenarios import Scenario

RSS_LIMIT_MIB: Final = 200.0


@dataclass(slots=True)
class ScenarioResult:
    scenario: Scenario
    load: LoadResult | None = None
    warmup: LoadResult | None = None
    rss_mib: float = 0.0
    response_bytes: int = 0
    cpu: CpuUse | None = None
    request_log: dict[str, int] | None = None
    error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error and self.load is not None and self.load.ok

    @property
    def rps_per_server_core(self) -> float | None:
        """Answers per CPU-second of the server: throughput had the server had a whole core.

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
            "response_bytes_sample": self.response_bytes,
        }
        if self.ok and self.load is not None:
            out.update({
                "rps": round(self.load.rps, 1),
                "p50_ms": round(self.load.p50_us / 1000, 3),
                "p99_ms": round(self.load.p99_us / 1000, 3),
                "rss_mib": round(self.rss_mib, 1),
            })  # fmt: skip
            per_core = self.rps_per_server_core
            if per_core is not None:
                out["rps_per_server_core"] = round(per_core, 1)
        if self.cpu is not None:
            out["cores_used"] = self.cpu.as_dict()
        if self.request_log is not None:
            out["request_log_check"] = self.request_log
        if self.load is not None:
            out["measured"] = self.load.as_dict()
        if self.warmup is not None:
            out["warmup"] = self.warmup.as_dict()
        if self.notes:
            out["notes"] = self.notes
        return out


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    measured: str
    passed: bool | None  # None: not evaluated (a scenario it needs did not run)

    @property
    def verdict(self) -> str:
        return "n/a" if self.passed is None else "PASS" if self.passed else "FAIL"


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


def _throughput_target(
    results: dict[str, ScenarioResult], key: str, ceiling: str, share: float
) -> Target:
    name = f"({key}) ≥ {share:.0%} of ({ceiling}) req/s".replace("%", " %")
    if key not in results or ceiling not in results:
        return Target(name, "not run", None)
    ratio = rps_ratio(results, key, ceiling)
    if ratio is None:
        failed = [k for k in (key, ceiling) if not results[k].ok]
        return Target(name, f"scenario {', '.join(failed)} failed", False)
    return Target(name, f"{ratio:.1%}".replace("%", " %"), ratio >= share)


def targets(results: dict[str, ScenarioResult]) -> list[Target]:
    out = [
        _throughput_target(results, "a", "e", 0.35),
        _throughput_target(results, "b", "e", 0.10),
        _throughput_target(results, "c", "f", 0.15),
    ]
    name = "(d) p50 ≤ 3 × (c) p50"
    c, d = results.get("c"), results.get("d")
    if c is None or d is None:
        out.append(Target(name, "not run", None))
    elif not (c.ok and d.ok):
        out.append(Target(name, "scenario failed", False))
    else:
        assert c.load is not None and d.load is not None
        factor = d.load.p50_us / c.load.p50_us
        out.append(
            Target(
                name,
                f"{d.load.p50_us / 1000:.1f} ms = {factor:.2f} × {c.load.p50_us / 1000:.1f} ms",
                factor <= 3.0,
            )
        )
    product = [r for r in results.values() if r.scenario.kind == "product"]
    name = f"server RSS ≤ {RSS_LIMIT_MIB:.0f} MiB (VmHWM, product scenarios)"
    if not product:
        out.append(Target(name, "not run", None))
    elif not all(r.ok for r in product):
        measured = [r.rss_mib for r in product if r.ok]
        text = f"max {max(measured):.1f} MiB of those that ran" if measured else "no data"
        out.append(Target(name, text, False))
    else:
        peak = max(r.rss_mib for r in product)
        out.append(Target(name, f"max {peak:.1f} MiB", peak <= RSS_LIMIT_MIB))
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


def markdown(
    results: dict[str, ScenarioResult], targets_: list[Target], meta: dict[str, Any]
) -> str:
    lines = [
        "| scenario | req/s | p50 ms | p99 ms | server RSS MiB | vs ceiling "
        "| req/s per server core | vs ceiling, per core |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
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
        vs = vs_core = ""
        if sc.kind == "product":
            ratio = rps_ratio(results, sc.key, sc.partner)
            vs = f"{ratio:.1%} of ({sc.partner})".replace("%", " %") if ratio is not None else ""
            core_ratio = per_core_ratio(results, sc.key, sc.partner)
            if core_ratio is not None:
                vs_core = f"{core_ratio:.1%}".replace("%", " %")
        per_core = res.rps_per_server_core
        lines.append(
            f"| {sc.label} | {_fmt(res.load.rps)} | {_fmt(res.load.p50_us / 1000, 2)} "
            f"| {_fmt(res.load.p99_us / 1000, 2)} | {_fmt(res.rss_mib)} | {vs} "
            f"| {_fmt(per_core, 0) if per_core is not None else ''} | {vs_core} |"
        )
    used = [
        f"({r.scenario.key}) {r.cpu.server:.2f}/{r.cpu.loadgen:.2f}/{r.cpu.other:.2f}"
        for r in results.values()
        if r.ok and r.cpu is not None
    ]
    if used:
        lines += ["", "Cores used while measured, server/load generator/everything else: "
                  + ", ".join(used) + "."]  # fmt: skip
    notes = [
        f"- ({r.scenario.key}) {note}"
        for r in results.values()
        for note in r.notes
        # The quiet-wait note is in the JSON; what counts is the load while measured.
        if not note.startswith(("server log tail", "machine not quiet"))
    ]
    if notes:
        lines += ["", "Notes:", *notes]
    lines += ["", "| target | measured | result |", "| --- | --- | --- |"]
    lines += [f"| {t.name} | {t.measured} | {t.verdict} |" for t in targets_]
    m, cfg = meta["machine"], meta["config"]
    commit = (m["git_commit"] or "unknown")[:12] + (" (dirty tree)" if m["git_dirty"] else "")
    lines += [
        "",
        f"Load: {cfg['loadgen']}, {cfg['connections']} keep-alive connections, "
        f"{cfg['warmup_s']:g} s warm-up + {cfg['duration_s']:g} s measured per scenario; "
        f"server: uvicorn, {cfg['workers']} worker, 127.0.0.1. "
        f"Data: {meta['dataset']['total_tasks']:,} tasks in SQLite, "
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
