"""A discrete-event simulator of LLM serving instances with continuous batching.

Each instance runs engine steps back to back while it has work. A step decodes one token
for every sequence past its prefill and spends the rest of a token budget on prompt
chunks (chunked prefill), continuing partial prefills before admitting new requests from
its FIFO queue. A step lasts ``a + b * prefill tokens + c * decoding sequences``.

KV cache: admitting a request allocates its prompt (plus the slot of its first output
token); every decoded token takes one more slot. When the decodes of the next step do not
fit, the latest admitted sequence is preempted and recomputed later (vLLM's policy), so
no instance ever exceeds its capacity. Requests wait in the queue while their prompt
does not fit.

Decoding sequences are kept in a heap keyed by the step at which they finish, so a step
costs O(prefilling sequences + finishes), not O(batch size): a 10,000-request simulation
runs in well under a second.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EngineParams:
    """Defaults: Llama-2-7B in fp16 on one A100 40 GB (vLLM-like engine).

    Why these numbers: 13.5 GB of weights read once per step at ~1.5 TB/s is ~9 ms, plus
    scheduling, so a step costs 10 ms before any work. A prompt token is ~14 GFLOP, i.e.
    ~80 us at ~55% of the 312 TFLOP/s peak. Each decoding sequence reads its KV cache
    (512 KiB per token for this multi-head-attention model, ~1k tokens of context) and
    samples: ~0.3 ms. The KV cache gets what is left of 90% of 40 GB after weights and
    activations, ~20 GB / 512 KiB = 40,000 tokens, so memory, not compute, caps the batch:
    the regime in which routing matters.
    """

    step_base_s: float = 0.010
    prefill_per_token_s: float = 8.0e-5
    decode_per_seq_s: float = 3.0e-4
    token_budget: int = 2048  # tokens per step (a decode counts one), chunked prefill
    max_running: int = 256  # sequences per batch, vLLM's max_num_seqs default
    kv_capacity_tokens: int = 40_000


@dataclass(frozen=True)
class Request:
    rid: int
    arrival: float
    prompt: int
    output: int  # true output length: the simulator's secret until the request finishes
    predicted: int
    cls: str

    def view(self) -> dict[str, Any]:
        """What a router may see."""
        return {
            "id": self.rid,
            "arrival_s": self.arrival,
            "prompt_tokens": self.prompt,
            "predicted_output_tokens": self.predicted,
            "class": self.cls,
        }


class _Seq:
    __slots__ = ("req", "target", "done", "generated", "order", "start_step", "first_token")

    def __init__(self, req: Request) -> None:
        self.req = req
        self.target = req.prompt  # tokens to prefill (prompt + generated after preemption)
        self.done = 0
        self.generated = 0
        self.order = 0  # admission order: the latest admitted is preempted first
        self.start_step = 0  # step after which it joined the decode set
        self.first_token: float | None = None


@dataclass
class Finished:
    rid: int
    instance: int
    arrival: float
    first_token: float
    finish: float
    output: int


class Instance:
    def __init__(self, index: int, engine: EngineParams) -> None:
        self.index = index
        self.engine = engine
        self.waiting: deque[_Seq] = deque()
        self.prefilling: list[_Seq] = []
        self.decoding: dict[int, _Seq] = {}
        self.finish_heap: list[tuple[int, int, int]] = []  # (finish step, order, rid)
        self.used = 0
        self.max_used = 0
        self.pending_prefill = 0
        self.step = 0
        self.admitted = 0
        self.preemptions = 0
        self.busy = False
        self.plan: list[tuple[_Seq, int]] = []
        self.plan_decodes = 0
        # A run of identical decode-only steps is simulated as one event ("macro step").
        self.steps_planned = 1
        self.step_start = 0.0
        self.step_seconds = 0.0
        self.event_time = 0.0  # end of the planned step(s)
        self.version = 0  # bumped on every (re)plan: heap events of older versions are stale

    def decoded_by(self, now: float) -> int:
        """Decode sub-steps of the current macro step already completed at ``now``."""
        if not self.busy or self.steps_planned == 1:
            return 0
        done = int((now - self.step_start) / self.step_seconds)
        return min(max(done, 0), self.steps_planned - 1)

    def view(self, now: float) -> dict[str, int]:
        used = self.used + self.plan_decodes * self.decoded_by(now)
        return {
            "queued": len(self.waiting),
            "running": len(self.prefilling) + len(self.decoding),
            "decoding": len(self.decoding),
            "pending_prefill_tokens": self.pending_prefill,
            "kv_used_tokens": used,
            "kv_free_tokens": self.engine.kv_capacity_tokens - used,
            "kv_capacity_tokens": self.engine.kv_capacity_tokens,
        }

    def enqueue(self, req: Request) -> None:
        self.waiting.append(_Seq(req))
        self.pending_prefill += req.prompt

    def _kv_of(self, seq: _Seq) -> int:
        decoded = self.step - seq.start_step if seq.req.rid in self.decoding else 0
        return seq.target + 1 + decoded

    def _preempt_latest(self) -> None:
        running = self.prefilling + list(self.decoding.values())
        victim = max(running, key=lambda s: s.order)
        self.used -= self._kv_of(victim)
        if victim.req.rid in self.decoding:
            victim.generated += self.step - victim.start_step
            del self.decoding[victim.req.rid]  # its heap entry is skipped lazily
        else:
            self.prefilling.remove(victim)
            self.pending_prefill -= victim.target - victim.done
        victim.target = victim.req.prompt + victim.generated
        victim.done = 0
        self.pending_prefill += victim.target
        self.waiting.appendleft(victim)
        self.preemptions += 1

    def start_step(self, now: float) -> float | None:
        """Plan the next step(s) from ``now``; when they end, or None if there is no work."""
        e = self.engine
        cap = e.kv_capacity_tokens
        while self.decoding and self.used + len(self.decoding) > cap:
            self._preempt_latest()
        decodes = len(self.decoding)
        if decodes and not self.prefilling and not self.waiting:
            return self._plan_decode_run(now, decodes)
        budget = e.token_budget - decodes
        plan: list[tuple[_Seq, int]] = []
        for seq in self.prefilling:
            if budget <= 0:
                break
            chunk = min(seq.target - seq.done, budget)
            plan.append((seq, chunk))
            budget -= chunk
        while (
            self.waiting
            and budget > 0
            and len(self.prefilling) + decodes < e.max_running
            and self.used + decodes + self.waiting[0].target + 1 <= cap
        ):
            seq = self.waiting.popleft()
            self.admitted += 1
            seq.order = self.admitted
            self.used += seq.target + 1
            self.prefilling.append(seq)
            chunk = min(seq.target, budget)
            plan.append((seq, chunk))
            budget -= chunk
        if not plan and not decodes:
            self.busy = False
            return None
        self.plan, self.plan_decodes, self.busy = plan, decodes, True
        prefill = sum(chunk for _, chunk in plan)
        seconds = e.step_base_s + e.prefill_per_token_s * prefill + e.decode_per_seq_s * decodes
        self.steps_planned, self.step_start, self.step_seconds = 1, now, seconds
        self.event_time = now + seconds
        self.version += 1
        return self.event_time

    def _plan_decode_run(self, now: float, decodes: int) -> float:
        """Identical decode-only steps until the next finish or until the KV cache fills."""
        e = self.engine
        heap = self.finish_heap
        while heap and not self._live(heap[0]):
            heapq.heappop(heap)
        steps = heap[0][0] - self.step
        steps = max(1, min(steps, (e.kv_capacity_tokens - self.used) // decodes))
        seconds = e.step_base_s + e.decode_per_seq_s * decodes
        self.plan, self.plan_decodes, self.busy = [], decodes, True
        self.steps_planned, self.step_start, self.step_seconds = steps, now, seconds
        self.event_time = now + steps * seconds
        self.version += 1
        return self.event_time

    def _live(self, entry: tuple[int, int, int]) -> bool:
        seq = self.decoding.get(entry[2])
        return seq is not None and seq.start_step + seq.req.output - seq.generated == entry[0]

    def interrupt(self, now: float) -> float | None:
        """A request arrived during a decode run: end the run after the current sub-step
        so that the newcomer joins the next step. The new end time, if it changed."""
        if not self.busy or self.steps_planned == 1:
            return None
        self.steps_planned = self.decoded_by(now) + 1
        self.event_time = self.step_start + self.steps_planned * self.step_seconds
        self.version += 1
        return self.event_time

    def end_step(self, now: float, done: list[Finished]) -> None:
        """Apply the planned step at its end time ``now``."""
        self.step += self.steps_planned
        self.used += self.plan_decodes * self.steps_planned
        self.max_used = max(self.max_used, self.used)
        heap = self.finish_heap
        while heap and heap[0][0] <= self.step:
            _, _, rid = heapq.heappop(heap)
            seq = self.decoding.get(rid)
            if seq is None or not self._live((self.step, 0, rid)):
                continue  # preempted since it was pushed
            self.used -= self._kv_of(seq)
            del self.decoding[rid]
            self._finish(seq, now, done)
        for seq, chunk in self.plan:
            seq.done += chunk
            self.pending_prefill -= chunk
            if seq.done < seq.target:
                continue
            self.prefilling.remove(seq)
            seq.generated += 1  # the step that completes a prefill samples a token
            if seq.first_token is None:
                seq.first_token = now
            if seq.generated >= seq.req.output:
                self.used -= seq.target + 1
                self._finish(seq, now, done)
            else:
                seq.start_step = self.step
                self.decoding[seq.req.rid] = seq
                finish_step = self.step + seq.req.output - seq.generated
                heapq.heappush(heap, (finish_step, seq.order, seq.req.rid))
        self.plan = []

    def _finish(self, seq: _Seq, now: float, done: list[Finished]) -> None:
        assert seq.first_token is not None
        r = seq.req
        done.append(Finished(r.rid, self.index, r.arrival, seq.first_token, now, r.output))


class ClusterSim:
    """One workload on N instances; pauses at every arrival for the router's decision."""

    def __init__(self, requests: list[Request], instances: int, engine: EngineParams, label: str):
        self.requests = requests
        self.instances = [Instance(i, engine) for i in range(instances)]
        self.label = label
        self.events: list[tuple[float, int, int]] = []  # (step end, instance, version)
        self.next_request = 0
        self.finished: list[Finished] = []
        self.now = 0.0

    @property
    def done(self) -> bool:
        return self.next_request >= len(self.requests) and not any(i.busy for i in self.instances)

    def advance(self, until: float | None) -> None:
        """Process every step end up to ``until`` (all of them when None)."""
        events = self.events
        while events and (until is None or events[0][0] <= until):
            now, k, version = heapq.heappop(events)
            inst = self.instances[k]
            if version != inst.version or not inst.busy:
                continue  # superseded by an interrupted decode run
            inst.end_step(now, self.finished)
            self._start(inst, now)

    def _start(self, inst: Instance, now: float) -> None:
        end = inst.start_step(now)
        if end is not None:
            heapq.heappush(self.events, (end, inst.index, inst.version))

    def next_arrival(self) -> Request | None:
        """Advance to the next arrival and return it (None when all have been routed)."""
        if self.next_request >= len(self.requests):
            self.advance(None)
            return None
        req = self.requests[self.next_request]
        self.advance(req.arrival)
        self.now = req.arrival
        return req

    def assign(self, target: int) -> None:
        """Send the current arrival to instance ``target`` (already validated)."""
        req = self.requests[self.next_request]
        self.next_request += 1
        inst = self.instances[target]
        inst.enqueue(req)
        if not inst.busy:
            self._start(inst, req.arrival)
        else:
            end = inst.interrupt(req.arrival)
            if end is not None:
                heapq.heappush(self.events, (end, inst.index, inst.version))

    def instance_views(self) -> list[dict[str, int]]:
        return [inst.view(self.now) for inst in self.instances]
