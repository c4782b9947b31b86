"""The LLM proposer: an ensemble of models (and optionally the offline mutator) behind the
engine's ``Proposer`` protocol.

One proposal: pick a member; for a model, render the prompt, reserve its worst-case cost
against the budget, call the model (with retries and a hard deadline), record every
attempt, settle the budget, and apply the answer to the parent's EVOLVE-BLOCK. An answer
that does not apply is a normal proposal with ``error`` set (stored EDIT_FAILED, fed to a
fix prompt). A call that fails after its retries raises ``ModelCallFailed``: there is no
program to store, the attempts are already in llm_calls, and the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from evolve.errors import EditError, ProviderError
from evolve.llm.base import CallError, Completion, Messages
from evolve.llm.budget import Budget
from evolve.llm.cost import PriceTable
from evolve.llm.ensemble import Ensemble
from evolve.llm.recording import Recorder, attempt_record
from evolve.llm.reliability import Attempt, AttemptHook
from evolve.proposal import Proposal, ProposalRequest, Proposer


class Rendered(Protocol):
    """What a renderer returns (``evolve.prompting.RenderedPrompt`` fits)."""

    @property
    def messages(self) -> list[dict[str, str]]: ...
    @property
    def template(self) -> str: ...
    @property
    def template_hash(self) -> str: ...


Render = Callable[[ProposalRequest], Rendered]
ApplyEdit = Callable[[str, str], str]  # (parent code, response text) -> child code


class Client(Protocol):
    """A provider that reports each attempt (``evolve.llm.reliability.Reliable``)."""

    model: str
    provider: str

    async def complete(
        self,
        messages: Messages,
        *,
        temperature: float,
        max_tokens: int,
        deadline: float,
        on_attempt: AttemptHook | None = None,
    ) -> Completion: ...


@dataclass(frozen=True)
class ModelSlot:
    """An LLM member of the ensemble: its client and sampling settings."""

    client: Client
    temperature: float
    max_tokens: int


class ModelCallFailed(ProviderError):
    """A model call failed after its retries; the engine counts the iteration as lost and
    goes on (the ensemble benches the model if it keeps failing)."""

    def __init__(self, model: str, error: CallError, llm_call_id: int | None) -> None:
        super().__init__(f"model '{model}' failed: {error}")
        self.model = model
        self.error = error
        self.llm_call_id = llm_call_id


def apply_to_block(parent_code: str, response: str) -> str:
    """A SEARCH/REPLACE diff if the answer has hunks, else a rewrite of the block."""
    from evolve.edits import apply_edit

    return apply_edit(parent_code, response).code


def library_renderer(library: Any) -> Render:
    """A Render over an ``evolve.prompting.PromptLibrary``. ``failure`` and
    ``failed_attempt`` in the request's context become ``build_context`` arguments."""
    from evolve.prompt_context import build_context

    def render(request: ProposalRequest) -> Rendered:
        extra = dict(request.context)
        failure = extra.pop("failure", None)
        failed_attempt = extra.pop("failed_attempt", None)
        context = build_context(
            request.problem,
            request.parent,
            inspirations=request.inspirations,
            other_parent=request.other_parent,
            failure=failure,
            failed_attempt=failed_attempt,
            extra=extra,
        )
        rendered: Rendered = library.render_messages(request.kind, context)
        return rendered

    return render


class LLMProposer:
    name = "llm"

    def __init__(
        self,
        ensemble: Ensemble[ModelSlot | Proposer],
        *,
        render: Render,
        recorder: Recorder,
        deadline: float,
        budget: Budget | None = None,
        prices: PriceTable | None = None,
        apply_edit: ApplyEdit = apply_to_block,
    ) -> None:
        self.ensemble = ensemble
        self._render = render
        self._recorder = recorder
        self._deadline = deadline
        self._budget = budget
        self._prices = prices or PriceTable()
        self._apply = apply_edit

    async def propose(self, request: ProposalRequest) -> Proposal:
        member = self.ensemble.pick()
        if isinstance(member.value, ModelSlot):
            return await self._ask(member.name, member.value, request)
        proposal = await member.value.propose(request)
        self.ensemble.succeeded(member.name)
        return proposal

    async def aclose(self) -> None:
        """Close every model's client; the engine calls this when the run ends."""
        for member in self.ensemble.members:
            if isinstance(member.value, ModelSlot):
                close = getattr(member.value.client, "aclose", None)
                if close is not None:
                    await close()

    def record_outcome(self, proposer: str, improved: bool, cost: float) -> None:
        """Feed the bandit: the engine calls this once the child of ``proposer`` is scored."""
        if proposer in self.ensemble.stats:
            self.ensemble.record_outcome(proposer, improved, cost)

    async def _ask(self, name: str, slot: ModelSlot, request: ProposalRequest) -> Proposal:
        prompt = self._render(request)
        messages = prompt.messages
        client = slot.client
        reservation = None
        if self._budget is not None:
            estimate = self._prices.estimate(client.model, messages, slot.max_tokens)
            reservation = self._budget.reserve(estimate)
        call_ids: list[int | None] = []
        spent = 0.0

        def on_attempt(attempt: Attempt) -> None:
            nonlocal spent
            record = attempt_record(
                attempt,
                model=client.model,
                provider=client.provider,
                messages=messages,
                temperature=slot.temperature,
                max_tokens=slot.max_tokens,
                template=prompt.template,
                template_hash=prompt.template_hash,
            )
            spent += record["cost_usd"]
            call_ids.append(self._recorder.record(record))

        try:
            completion = await client.complete(
                messages,
                temperature=slot.temperature,
                max_tokens=slot.max_tokens,
                deadline=self._deadline,
                on_attempt=on_attempt,
            )
        except CallError as exc:
            self.ensemble.failed(name, f"{type(exc).__name__}: {exc}")
            raise ModelCallFailed(name, exc, call_ids[-1] if call_ids else None) from exc
        finally:
            if self._budget is not None and reservation is not None:
                self._budget.settle(reservation, spent)
        self.ensemble.succeeded(name)
        call_id = call_ids[-1] if call_ids else None
        try:
            code: str | None = self._apply(request.parent.code, completion.text)
            error = None
        except EditError as exc:
            code, error = None, str(exc)
        return Proposal(
            code=code,
            edit=completion.text,
            proposer=name,
            template=prompt.template,
            error=error,
            llm_call_id=call_id,
            cost_usd=spent,
        )
