"""LLMProposer end to end: the real prompt library and SMTT problem, the real SDKs against
loopback servers, every attempt recorded in a real SQLite database, the budget, benching,
and a replay that reproduces the recorded proposals with no server at all."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evolve.config import LLMConfig, ModelConfig
from evolve.errors import BudgetExceeded, ProviderError
from evolve.llm.budget import Budget
from evolve.llm.factory import LLMDefaults, ModelSpec, build_proposer
from evolve.llm.proposer import LLMProposer, ModelCallFailed, library_renderer
from evolve.llm.recording import CallbackRecorder, ReplayLog, ReplayMissing, request_hash
from evolve.problems import find_problem
from evolve.prompting import library_for
from evolve.proposal import Proposal, ProposalRequest
from evolve.storage.store import Store
from evolve.types import Program, Status
from tests.llm_servers import Reply, ScriptedLLMServer, offline_env

pytestmark = pytest.mark.usefixtures(offline_env.__name__)

PROBLEM = find_problem("smtt")
SEED = PROBLEM.seed_path.read_text()
# Modified due date (max(d, t + p)) beats plain EDD on total tardiness.
IMPROVING_DIFF = """I'll schedule by modified due date.

<<<<<<< SEARCH
            key = max(d[j], 0)  # due dates are never negative: this is plain EDD
=======
            key = max(d[j], finish)  # modified due date
>>>>>>> REPLACE
"""
STALE_DIFF = """<<<<<<< SEARCH
    return sorted(range(len(p)), key=lambda j: p[j])
=======
    return list(range(len(p)))
>>>>>>> REPLACE
"""
FAST = LLMDefaults(deadline=10.0, max_retries=3, max_in_flight=4, failures_before_bench=2)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store.open(f"sqlite:///{tmp_path / 'evolve.db'}")
    yield db
    db.close()


def request(seed: int = 0) -> ProposalRequest:
    parent = Program(
        id=1,
        run_id=1,
        code=SEED,
        code_hash="seed",
        status=Status.COMPLETE,
        iteration=0,
        score=-0.3,
        metrics={"gap": 0.3},
    )
    return ProposalRequest(
        parent=parent, inspirations=[], other_parent=None, kind="diff", problem=PROBLEM, seed=seed
    )


def proposer_for(
    store: Store,
    run_id: int,
    entries: list[ModelSpec] | list[ModelConfig],
    *,
    settings: LLMDefaults | LLMConfig = FAST,
    budget: Budget | None = None,
    replay: ReplayLog | None = None,
) -> LLMProposer:
    return build_proposer(
        entries,
        seed=42,
        render=library_renderer(library_for(PROBLEM.dir)),
        recorder=CallbackRecorder(lambda call: store.add_llm_call(run_id, **call).id),
        settings=settings,
        budget=budget,
        replay=replay,
    )


def propose(proposer: LLMProposer, n: int = 1) -> list[Proposal]:
    async def main() -> list[Proposal]:
        return [await proposer.propose(request(i)) for i in range(n)]

    return asyncio.run(main())


@pytest.mark.parametrize("provider", ["openai", "anthropic", "litellm"])
def test_a_diff_from_the_model_becomes_a_child_and_a_stored_call(
    store: Store, provider: str
) -> None:
    run = store.create_run("smtt", {}, 0)
    name = "openai/gpt-4o-mini" if provider == "litellm" else "gpt-4o-mini"
    with ScriptedLLMServer(default=Reply(text=IMPROVING_DIFF, input_tokens=900)) as srv:
        base = srv.url if provider == "anthropic" else srv.url + "/v1"
        entry = ModelSpec(name=name, provider=provider, base_url=base, max_tokens=2000)
        [proposal] = propose(proposer_for(store, run.id, [entry]))
    assert proposal.error is None and proposal.code is not None
    assert "key = max(d[j], finish)  # modified due date" in proposal.code
    assert proposal.code.replace("max(d[j], finish)  # modified due date", "") != SEED
    assert proposal.proposer == name and proposal.template == "diff.j2"
    [call] = store.llm_calls(run.id)
    assert call.id == proposal.llm_call_id
    assert (call.status, call.model, call.provider) == ("ok", name, provider)
    assert (call.input_tokens, call.output_tokens) == (900, 30)
    assert call.cost_usd == pytest.approx(900 * 0.15e-6 + 30 * 0.6e-6)
    assert call.cost_usd == pytest.approx(proposal.cost_usd)
    assert call.latency_s > 0 and call.template_hash and call.response == IMPROVING_DIFF
    sent = srv.seen[0].body["messages"]
    assert call.prompt[-1] == sent[-1]
    assert "EVOLVE-BLOCK" in call.prompt[-1]["content"]
    assert call.request_hash == request_hash(name, call.prompt, 0.7, 2000)


def test_every_attempt_is_recorded_including_failures(store: Store) -> None:
    run = store.create_run("smtt", {}, 0)
    script = [
        Reply("rate_limit", retry_after=0.2),
        Reply("server_error"),
        Reply(text=IMPROVING_DIFF),
        Reply("malformed"),
        Reply(text=STALE_DIFF),
    ]
    with ScriptedLLMServer(script) as srv:
        entry = ModelSpec("gpt-4o-mini", "openai", base_url=srv.url + "/v1")
        proposer = proposer_for(store, run.id, [entry])
        [first] = propose(proposer)
        with pytest.raises(ModelCallFailed) as failed:
            propose(proposer)
        [stale] = propose(proposer)
    calls = store.llm_calls(run.id)
    assert [c.status for c in calls] == ["error", "error", "ok", "error", "ok"]
    assert calls[0].error is not None and calls[0].error.startswith("RateLimited")
    assert calls[1].error is not None and calls[1].error.startswith("TransientError")
    assert calls[3].error is not None and calls[3].error.startswith("BadResponse")
    assert first.llm_call_id == calls[2].id and first.code is not None
    assert failed.value.llm_call_id == calls[3].id
    # An answer that does not apply is a proposal with an error, not a provider failure.
    assert stale.code is None and stale.error and "SEARCH" in stale.error
    assert stale.llm_call_id == calls[4].id
    assert all(c.template_hash == calls[0].template_hash for c in calls)


def test_a_failing_model_is_benched_and_recovers(store: Store) -> None:
    run = store.create_run("smtt", {}, 0)
    settings = LLMDefaults(deadline=5, max_retries=0, failures_before_bench=2, bench_seconds=0.5)
    with (
        ScriptedLLMServer(default=Reply("server_error")) as sick,
        ScriptedLLMServer(default=Reply(text=IMPROVING_DIFF)) as well,
    ):
        entries = [
            ModelSpec("sick-model", "openai", base_url=sick.url + "/v1"),
            ModelSpec("well-model", "anthropic", base_url=well.url),
        ]
        proposer = proposer_for(store, run.id, entries, settings=settings)

        async def go(n: int) -> list[str]:
            served = []
            for i in range(n):
                try:
                    served.append((await proposer.propose(request(i))).proposer)
                except ModelCallFailed as exc:
                    served.append(f"failed:{exc.model}")
            return served

        before = asyncio.run(go(12))
        assert before.count("failed:sick-model") == 2  # then benched: the others go on
        assert before.count("well-model") == 10
        sick.default = Reply(text=IMPROVING_DIFF)
        time.sleep(0.6)
        after = asyncio.run(go(12))
    assert "sick-model" in after and "failed:sick-model" not in after


def test_every_model_failing_stops_with_the_reason(store: Store) -> None:
    run = store.create_run("smtt", {}, 0)
    settings = LLMDefaults(deadline=5, max_retries=0, failures_before_bench=2, bench_seconds=60)
    with ScriptedLLMServer(default=Reply("status", status=404)) as srv:
        entries = [
            ModelSpec("a-model", "openai", base_url=srv.url + "/v1"),
            ModelSpec("openai/b-model", "litellm", base_url=srv.url + "/v1"),
        ]
        proposer = proposer_for(store, run.id, entries, settings=settings)

        async def until_stopped() -> ProviderError:
            for i in range(20):
                try:
                    await proposer.propose(request(i))
                except ModelCallFailed:
                    continue
                except ProviderError as exc:
                    return exc
            raise AssertionError("the run never stopped")

        stop = asyncio.run(until_stopped())
    assert str(stop).startswith("all models failing: a-model: PermanentError")
    assert "; openai/b-model: PermanentError" in str(stop)
    assert len(store.llm_calls(run.id)) == 4


def test_budget_refuses_calls_that_could_cross_it_while_others_are_in_flight(
    store: Store,
) -> None:
    run = store.create_run("smtt", {}, 0)
    with ScriptedLLMServer(default=Reply(text=IMPROVING_DIFF, delay=0.3)) as srv:
        entry = ModelSpec("gpt-4o-mini", "openai", base_url=srv.url + "/v1", max_tokens=4000)
        probe = proposer_for(store, run.id, [entry])
        messages = library_renderer(library_for(PROBLEM.dir))(request()).messages
        estimate = probe._prices.estimate("gpt-4o-mini", messages, 4000)
        budget = Budget(2.5 * estimate)
        proposer = proposer_for(store, run.id, [entry], budget=budget)

        async def together() -> list[Proposal | BaseException]:
            jobs = (proposer.propose(request(i)) for i in range(4))
            return await asyncio.gather(*jobs, return_exceptions=True)

        outcomes = asyncio.run(together())
    assert sum(isinstance(o, Proposal) for o in outcomes) == 2
    assert sum(isinstance(o, BudgetExceeded) for o in outcomes) == 2
    assert len(srv.seen) == 2, "a refused call must never reach the endpoint"
    assert budget.reserved_usd == 0
    assert budget.spent_usd == pytest.approx(store.run_cost(run.id))


def test_replay_reproduces_the_recorded_proposals_without_any_server(store: Store) -> None:
    recorded = store.create_run("smtt", {}, 0)
    answers = [IMPROVING_DIFF, STALE_DIFF, IMPROVING_DIFF.replace("finish", "finish + 1")]
    entries = [ModelConfig(name="gpt-4o-mini", provider="openai", weight=1.0)]
    with ScriptedLLMServer([Reply(text=t) for t in answers]) as srv:
        live = [ModelConfig(name="gpt-4o-mini", provider="openai", base_url=srv.url + "/v1")]
        original = propose(proposer_for(store, recorded.id, live, settings=LLMConfig()), 3)
    replayed_run = store.create_run("smtt", {}, 0)
    log = ReplayLog(store.llm_calls(recorded.id))
    replayer = proposer_for(store, replayed_run.id, entries, settings=LLMConfig(), replay=log)
    again = propose(replayer, 3)
    assert [(p.code, p.edit, p.error) for p in again] == [
        (p.code, p.edit, p.error) for p in original
    ]
    assert [c.response for c in store.llm_calls(replayed_run.id)] == answers
    assert store.run_cost(replayed_run.id) == 0.0
    diverged = request()
    diverged = ProposalRequest(
        parent=diverged.parent,
        inspirations=[],
        other_parent=None,
        kind="rewrite",
        problem=PROBLEM,
        seed=0,
    )
    with pytest.raises(ReplayMissing, match="diverged"):
        asyncio.run(replayer.propose(diverged))
