"""Paired timing: the compared commands run in turn, round after round, each timed by the CPU time of its
whole process tree (user + sys, from `getrusage(RUSAGE_CHILDREN)` deltas) and by wall time."""
from __future__ import annotations

import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Setup = Callable[[], None]


class CommandFailed(Exception):
    """A measured command exited with a status it should not have: its figures would mean nothing."""


@dataclass
class Step:
    """One measured command; `before` and `after` run untimed around every run of it."""

    name: str
    argv: Sequence[str]
    cwd: Path
    env: Mapping[str, str]
    stdin: bytes | Callable[[], bytes] = b""
    before: Setup | None = None
    after: Setup | None = None
    statuses: tuple[int, ...] = (0,)
    warmups: int = 1


@dataclass(frozen=True)
class Comparison:
    """`numerator` against `denominator`, round by round: their ratio, or their difference in ms ("over")."""

    label: str
    numerator: str
    denominator: str
    kind: Literal["ratio", "over"] = "ratio"


@dataclass(frozen=True)
class Sample:
    cpu: float
    wall: float


@dataclass
class Group:
    """Steps run in turn (A, B, C, A, B, C, ...) for `pairs` rounds, and what to compare between them."""

    name: str
    size: int
    steps: list[Step]
    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # what the report derives figures from (migrations, bytes)
    order: Callable[[int], list[Step]] | None = None  # the steps of a round, by its index (default: `steps` as listed)

    def round_steps(self, round_index: int) -> list[Step]:
        return self.steps if self.order is None else self.order(round_index)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(step: Step) -> Sample:
    """Run `step` once (its before/after untimed) and return its CPU and wall time in seconds."""
    if step.before is not None:
        step.before()
    stdin = step.stdin() if callable(step.stdin) else step.stdin
    cpu_before = children_cpu()
    start = time.perf_counter()
    done = subprocess.run(list(step.argv), cwd=step.cwd, env=dict(step.env), input=stdin, capture_output=True)
    wall = time.perf_counter() - start
    cpu = children_cpu() - cpu_before
    if done.returncode not in step.statuses:
        tail = (done.stderr or done.stdout).decode("utf-8", "replace").strip().splitlines()[-5:]
        raise CommandFailed(f"{step.name}: `{' '.join(step.argv)}` in {step.cwd} exited {done.returncode}: " + " / ".join(tail))
    if step.after is not None:
        step.after()
    return Sample(cpu, wall)


def run_group(group: Group, pairs: int, progress: Callable[[str], None] = lambda line: None) -> dict[str, list[Sample]]:
    """Warm-up runs, then `pairs` rounds of every step in order; the samples of each step."""
    for warmup in range(max((step.warmups for step in group.steps), default=0)):
        for step in group.steps:
            if step.warmups > warmup:
                run(step)
    samples: dict[str, list[Sample]] = {step.name: [] for step in group.steps}
    for round_index in range(pairs):
        for step in group.round_steps(round_index):
            samples[step.name].append(run(step))
        progress(f"{group.name} at {group.size:,}: round {round_index + 1}/{pairs}")
    return samples


def summary(values: Sequence[float]) -> dict[str, Any]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "values": list(values)}


def compare(comparison: Comparison, samples: Mapping[str, list[Sample]]) -> dict[str, Any]:
    """The comparison computed pair by pair (same round), for CPU and wall; differences in ms."""
    result: dict[str, Any] = {"label": comparison.label, "numerator": comparison.numerator,
                              "denominator": comparison.denominator, "kind": comparison.kind}
    for measure in ("cpu", "wall"):
        sides = zip(samples[comparison.numerator], samples[comparison.denominator], strict=True)
        pairs = [(getattr(a, measure), getattr(b, measure)) for a, b in sides]
        if comparison.kind == "ratio":
            values = [a / b if b > 0 else float("inf") for a, b in pairs]
        else:
            values = [(a - b) * 1000 for a, b in pairs]
        result[measure] = summary(values)
    return result


def group_result(group: Group, samples: Mapping[str, list[Sample]]) -> dict[str, Any]:
    """What the JSON holds for one group: each step's CPU and wall in ms, and the comparisons."""
    return {
        "group": group.name,
        "size": group.size,
        "pairs": min((len(values) for values in samples.values()), default=0),
        "notes": group.notes,
        "facts": group.facts,
        "steps": {step.name: {"command": " ".join(Path(part).name if index == 0 else part for index, part in enumerate(step.argv)),
                              "cpu_ms": summary([sample.cpu * 1000 for sample in samples[step.name]]),
                              "wall_ms": summary([sample.wall * 1000 for sample in samples[step.name]])}
                  for step in group.steps},
        "comparisons": [compare(comparison, samples) for comparison in group.comparisons],
    }
