"""Verifier of the LLM request routing problem.

Every simulation pauses at each arrival; the lockstep helper gathers the pending arrival
of every simulation into one ``Session.map`` call of the candidate's
``route(sim_id, request, instances)``, so an evaluation costs one round trip per request
of one workload. Round robin, the reference, runs on the host over the same workloads.
Score = 1 - (mean end-to-end latency / round robin's), averaged over workloads: 0.12
reads "12% better than round robin", higher is better.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from evaluators.base import EvaluationResult, Stage, invalid
from evaluators.lockstep import InvalidAnswer, LockstepStats, run_lockstep
from evaluators.routing_sim import ClusterSim, EngineParams, Finished, Request
from evaluators.routing_workload import MAX_OUTPUT, MAX_PROMPT, generate_workload
from evaluators.user_instances import InstanceFileError, read_json_list
from sandbox.base import Session


@dataclass(frozen=True)
class Workload:
    label: str
    requests: tuple[Request, ...]
    instances: int


class RoutingSim:
    """A ClusterSim behind the lockstep protocol: one pending decision per arrival."""

    def __init__(self, workload: Workload, engine: EngineParams) -> None:
        self.workload = workload
        self.sim = ClusterSim(list(workload.requests), workload.instances, engine, workload.label)
        self.current: Request | None = None

    @property
    def label(self) -> str:
        return self.workload.label

    def pending(self) -> list[tuple[Any, ...]]:
        if self.current is None:
            self.current = self.sim.next_arrival()
            if self.current is None:
                return []
        return [(self.current.view(), self.sim.instance_views())]

    def resolve(self, answers: list[Any]) -> None:
        target = answers[0]
        n = self.workload.instances
        if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < n:
            shown = repr(target)[:60]
            raise InvalidAnswer(
                f"workload {self.label}, {self.where(0)}: route() returned {shown}; "
                f"expected an int index of an instance, 0 to {n - 1}"
            )
        self.sim.assign(target)
        self.current = None

    def where(self, position: int) -> str:
        rid = self.current.rid if self.current is not None else -1
        return f"request {rid}"


def run_host_router(workload: Workload, engine: EngineParams, router: str) -> list[Finished]:
    """Trusted reference routers that run on the host (round robin only for now)."""
    if router != "round_robin":
        raise ValueError(f"no host reference router '{router}'")
    sim = ClusterSim(list(workload.requests), workload.instances, engine, workload.label)
    k = 0
    while sim.next_arrival() is not None:
        sim.assign(k % workload.instances)
        k += 1
    return sim.finished


@lru_cache(maxsize=256)
def reference_mean_e2e(workload: Workload, engine: EngineParams) -> float:
    return statistics.fmean(
        f.finish - f.arrival for f in run_host_router(workload, engine, "round_robin")
    )


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load_workloads(
    path: Path, default_instances: int, engine: EngineParams | None = None
) -> list[Workload]:
    """A user's workloads: a JSON list of {"instances": N, "requests": [{arrival_s, ...}]}."""
    raw = read_json_list(path, "workloads")
    kv = (engine or EngineParams()).kv_capacity_tokens
    return [_parse_workload(path, k, item, default_instances, kv) for k, item in enumerate(raw)]


def _parse_workload(path: Path, k: int, item: Any, default_instances: int, kv: int) -> Workload:
    where = f"{path}: workload {k}"
    if not isinstance(item, dict) or not isinstance(item.get("requests"), list):
        raise InstanceFileError(f"{where}: expected an object with a 'requests' list")
    n = item.get("instances", default_instances)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InstanceFileError(f"{where}: 'instances' must be a positive integer")
    requests: list[Request] = []
    last = 0.0
    for rid, r in enumerate(item["requests"]):
        try:
            arrival = float(r["arrival_s"])
            prompt, output = int(r["prompt_tokens"]), int(r["output_tokens"])
            predicted = int(r.get("predicted_output_tokens", output))
            cls = str(r.get("class", "unknown"))
        except (TypeError, KeyError, ValueError) as exc:
            raise InstanceFileError(
                f"{where}, request {rid}: needs numbers arrival_s, prompt_tokens, "
                f"output_tokens ({exc.__class__.__name__}: {exc})"
            ) from exc
        if arrival < last or not 1 <= prompt <= MAX_PROMPT or not 1 <= output <= MAX_OUTPUT:
            raise InstanceFileError(
                f"{where}, request {rid}: arrivals must be sorted, prompt_tokens in "
                f"1..{MAX_PROMPT} and output_tokens in 1..{MAX_OUTPUT}"
            )
        if prompt + output + 1 > kv:
            raise InstanceFileError(
                f"{where}, request {rid}: {prompt} + {output} tokens never fit in a KV cache "
                f"of {kv} tokens; shorten it or raise engine.kv_capacity_tokens"
            )
        last = arrival
        requests.append(Request(rid, arrival, prompt, output, max(1, predicted), cls))
    if not requests:
        raise InstanceFileError(f"{where}: has no requests")
    return Workload(str(item.get("name", f"file#{k}")), tuple(requests), n)


class LLMRouting:
    """Constructed from problem.yaml ``verifier.params`` (see problems/llm_routing)."""

    def __init__(self, params: dict[str, Any], problem_dir: Path) -> None:
        self.problem_dir = problem_dir
        known = {f.name for f in fields(EngineParams)}
        overrides = dict(params.get("engine", {}))
        unknown = set(overrides) - known
        if unknown:
            raise KeyError(f"unknown engine parameter(s) {sorted(unknown)}; known: {sorted(known)}")
        self.engine = EngineParams(**overrides)
        if self.engine.kv_capacity_tokens < MAX_PROMPT + MAX_OUTPUT + 1:
            raise ValueError(
                f"engine.kv_capacity_tokens must hold the longest request "
                f"({MAX_PROMPT + MAX_OUTPUT + 1} tokens)"
            )
        self.instances = int(params.get("instances", 8))
        self.requests = int(params.get("requests_per_workload", 4000))
        self.train = self._workloads(
            params.get("train_seeds", [11, 12]), params.get("train_loads", [1.0, 0.9, 1.1])
        )
        self.test = self._workloads(
            params.get("test_seeds", [21, 22]), params.get("test_loads", [0.95, 1.05, 1.15])
        )
        self.quick = int(params.get("quick_workloads", 2))
        self.function = str(params.get("function", "route"))

    def _workloads(self, seeds: Sequence[int], loads: Sequence[float]) -> list[Workload]:
        out = []
        for seed in seeds:  # seed-major: the quick stage already spans every load level
            for load in loads:
                reqs = generate_workload(
                    seed=int(seed) * 1000 + round(float(load) * 100),
                    requests=self.requests,
                    instances=self.instances,
                    load=float(load),
                    engine=self.engine,
                )
                out.append(
                    Workload(f"load={float(load):g} seed={seed}", tuple(reqs), self.instances)
                )
        return out

    def stages(self) -> list[Stage]:
        return [Stage("quick", self.quick), Stage("full", None)]

    def evaluate(self, session: Session, stage: Stage) -> EvaluationResult:
        chosen = self.train if stage.instances is None else self.train[: stage.instances]
        return self.score(session, chosen)

    def evaluate_test(self, session: Session) -> EvaluationResult:
        return self.score(session, self.test)

    def evaluate_file(self, session: Session, path: Path) -> EvaluationResult:
        return self.score(session, load_workloads(path, self.instances, self.engine))

    def score(self, session: Session, workloads: Sequence[Workload]) -> EvaluationResult:
        sims = [RoutingSim(w, self.engine) for w in workloads]
        try:
            stats = run_lockstep(session, self.function, sims)
        except InvalidAnswer as exc:
            return invalid(str(exc), timed_out=exc.timed_out)
        for s in sims:
            check_conservation(s.sim, len(s.workload.requests))
        return summarise(sims, self.engine, stats)


def check_conservation(sim: ClusterSim, expected: int) -> None:
    """Every request finished exactly once and no KV cache overflowed, or the simulator is
    wrong (never the candidate's fault)."""
    rids = sorted(f.rid for f in sim.finished)
    if rids != list(range(expected)):
        raise RuntimeError(f"routing simulator lost or duplicated requests in {sim.label}")
    for inst in sim.instances:
        if inst.max_used > inst.engine.kv_capacity_tokens:
            raise RuntimeError(f"routing simulator overflowed the KV cache in {sim.label}")


def summarise(
    sims: Sequence[RoutingSim], engine: EngineParams, stats: LockstepStats | None = None
) -> EvaluationResult:
    e2e: list[float] = []
    ttft: list[float] = []
    tpot: list[float] = []
    ratios: list[float] = []
    lines: list[str] = []
    for s in sims:
        done = s.sim.finished
        lat = [f.finish - f.arrival for f in done]
        mine, ref = statistics.fmean(lat), reference_mean_e2e(s.workload, engine)
        ratios.append(mine / ref)
        e2e.extend(lat)
        ttft.extend(f.first_token - f.arrival for f in done)
        tpot.extend((f.finish - f.first_token) / (f.output - 1) for f in done if f.output > 1)
        preempted = sum(i.preemptions for i in s.sim.instances)
        lines.append(
            f"- {s.label}: mean e2e {mine:.2f} s ({_versus(mine / ref)} round robin's "
            f"{ref:.2f} s), p99 {percentile(lat, 0.99):.1f} s, "
            f"{preempted} KV preemptions"
        )
    ratio = statistics.fmean(ratios)
    metrics = {
        "e2e_vs_round_robin": ratio,
        "improvement_vs_round_robin_pct": 100 * (1 - ratio),
        "mean_e2e_s": statistics.fmean(e2e),
        "p99_e2e_s": percentile(e2e, 0.99),
        "mean_ttft_s": statistics.fmean(ttft),
        "mean_tpot_s": statistics.fmean(tpot) if tpot else 0.0,
    }
    head = (
        f"{len(e2e)} requests over {len(sims)} workloads: mean end-to-end latency "
        f"{_versus(ratio)} round robin (score = 1 - ratio); "
        f"mean TTFT {metrics['mean_ttft_s']:.3f} s, mean TPOT {metrics['mean_tpot_s'] * 1000:.1f} ms."
    )
    if stats is not None:
        lines.append(
            f"({stats.round_trips} lockstep steps, {stats.decisions} decisions, "
            f"{stats.candidate_seconds:.2f} s in the program)"
        )
    return EvaluationResult(score=1 - ratio, metrics=metrics, feedback="\n".join([head, *lines]))


def _versus(ratio: float) -> str:
    return f"{abs(100 * (1 - ratio)):.1f}% {'better' if ratio <= 1 else 'worse'} than"
