"""The offline proposer: valid, different, reproducible children that change only the block."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from evaluators.problem import ProblemSpec
from evolve.edits import check_syntax, normalized_hash, split_block
from evolve.mutators import OfflineProposer
from evolve.proposal import Proposal, ProposalRequest, Proposer
from evolve.types import Program, Status

# The shape of the SMTT seed: the whole dispatching loop is the block.
LOOP_SEED = '''"""Earliest due date first."""

from __future__ import annotations


# EVOLVE-BLOCK-START
def schedule(p: list[int], d: list[int], w: list[int]) -> list[int]:
    """Return the processing order."""
    unscheduled = list(range(len(p)))
    order = []
    t = 0
    while unscheduled:
        best = unscheduled[0]
        best_key = float("inf")
        for j in unscheduled:
            finish = t + p[j]  # completion time of job j if it runs next
            key = max(d[j], 0)  # plain EDD
            if key < best_key:
                best = j
                best_key = key
        unscheduled.remove(best)
        order.append(best)
        t += p[best]
    return order
# EVOLVE-BLOCK-END
'''

# Only the key is evolved, inside a loop: the block is indented and sees outer names.
KEY_SEED = """def schedule(p, d, w):
    unscheduled = list(range(len(p)))
    t = 0
    order = []
    while unscheduled:
        mean_p = sum(p[j] for j in unscheduled) / len(unscheduled)
        # EVOLVE-BLOCK-START
        def key(j):
            # earliest due date first
            return d[j] + 0.0 * mean_p
        # EVOLVE-BLOCK-END
        j = min(unscheduled, key=key)
        unscheduled.remove(j)
        order.append(j)
        t += p[j]
    return order
"""

# A module-level priority function with its inputs as parameters.
PRIORITY_SEED = """import math

# EVOLVE-BLOCK-START
def priority(j, t, p, d, w, total_p):
    slack = d[j] - t - p[j]
    if slack <= 0:
        return -w[j] / p[j]
    return min(slack, 2.5 * p[j]) / (w[j] * math.exp(-slack / total_p))
# EVOLVE-BLOCK-END


def helper(x):
    return x * 2  # outside the block: never touched
"""

SEEDS = [LOOP_SEED, KEY_SEED, PRIORITY_SEED]


def assert_good_child(parent: str, child: str) -> None:
    assert check_syntax(child) is None, child
    assert normalized_hash(child) != normalized_hash(parent)
    before, after = split_block(parent), split_block(child)
    assert (before.prefix, before.suffix) == (after.prefix, after.suffix)


def test_children_are_valid_different_and_inside_the_block() -> None:
    proposer = OfflineProposer(seed=3)
    for parent in SEEDS:
        for request_seed in range(120):
            proposal = proposer.mutate(parent, None, request_seed)
            assert proposal.error is None and proposal.code is not None
            assert_good_child(parent, proposal.code)
            assert proposal.edit and proposal.proposer == "offline"


def test_chains_of_mutations_stay_valid() -> None:
    proposer = OfflineProposer(seed=11, max_mutations=3)
    for parent in SEEDS:
        code = parent
        for step in range(60):
            proposal = proposer.mutate(code, parent, step)
            if proposal.code is None:  # a block mutated down to nothing numeric
                assert proposal.error
                break
            assert_good_child(code, proposal.code)
            code = proposal.code


def test_same_seed_same_child_and_seeds_differ() -> None:
    a, b = OfflineProposer(seed=5), OfflineProposer(seed=5)
    first = [a.mutate(LOOP_SEED, KEY_SEED, s) for s in range(30)]
    assert first == [b.mutate(LOOP_SEED, KEY_SEED, s) for s in range(30)]
    assert len({p.code for p in first}) > 20
    other = [OfflineProposer(seed=6).mutate(LOOP_SEED, None, s).code for s in range(30)]
    assert other != [p.code for p in first]


def test_every_operator_is_used_and_described() -> None:
    proposer = OfflineProposer(seed=1, max_mutations=1)
    kinds: Counter[str] = Counter()
    for parent in SEEDS:
        for request_seed in range(150):
            proposal = proposer.mutate(parent, None, request_seed)
            kinds.update(re.findall(r"(const|swap|replace|add term|drop term) ", proposal.edit))
    assert set(kinds) == {"const", "swap", "replace", "add term", "drop term"}, kinds
    described = OfflineProposer(seed=2, max_mutations=1).mutate(PRIORITY_SEED, None, 0).edit
    assert re.search(r"at line \d+", described)


def test_min_max_swap_and_constant_perturbation() -> None:
    proposer = OfflineProposer(seed=4, max_mutations=1)
    edits = [proposer.mutate(PRIORITY_SEED, None, s).edit for s in range(200)]
    swap = next(e for e in edits if e.startswith("swap min -> max"))
    assert "line 8" in swap
    const = next(e for e in edits if e.startswith("const 2.5 -> "))
    assert float(const.split()[3]) != 2.5


def test_mutations_reach_the_modified_due_date() -> None:
    """The EDD loop is one mutation away from MDD: replace 0 by ``finish``."""
    proposer = OfflineProposer(seed=9, max_mutations=1)
    children = {proposer.mutate(LOOP_SEED, None, s).code for s in range(400)}
    assert any(c and "key = max(d[j], finish)" in c for c in children)
    # and new terms are built from the program's own blocks, like ``t + p[j]``
    key_children = [OfflineProposer(seed=9).mutate(KEY_SEED, None, s) for s in range(300)]
    assert any("t + p[j]" in (p.code or "") for p in key_children)


def test_crossover_takes_expressions_from_the_other_parent() -> None:
    other = LOOP_SEED.replace("key = max(d[j], 0)", "key = max(d[j], t + p[j]) - w[j]")
    proposer = OfflineProposer(seed=2, max_mutations=1, crossover_rate=1.0)
    proposals = [proposer.mutate(LOOP_SEED, other, s) for s in range(40)]
    crossed = [p for p in proposals if p.edit.startswith("crossover")]
    assert len(crossed) > 20
    assert any("max(d[j], t + p[j]) - w[j]" in (p.code or "") for p in crossed)
    for proposal in crossed:
        assert proposal.code is not None
        assert_good_child(LOOP_SEED, proposal.code)
    # Without a second parent there is no crossover.
    alone = [proposer.mutate(LOOP_SEED, None, s).edit for s in range(40)]
    assert not any(e.startswith("crossover") for e in alone)


def test_comments_and_layout_outside_the_mutated_expression_survive() -> None:
    proposal = OfflineProposer(seed=8, max_mutations=1).mutate(LOOP_SEED, None, 0)
    assert proposal.code is not None
    changed = [
        (a, b)
        for a, b in zip(LOOP_SEED.splitlines(), proposal.code.splitlines(), strict=True)
        if a != b
    ]
    assert len(changed) == 1  # one expression, one line
    assert "# completion time of job j if it runs next" in proposal.code


def test_unmutable_parents_fail_with_a_reason() -> None:
    proposer = OfflineProposer(seed=0)
    nothing = "# EVOLVE-BLOCK-START\ndef f():\n    pass\n# EVOLVE-BLOCK-END\n"
    failed = proposer.mutate(nothing, None, 0)
    assert failed.code is None and failed.error and "numeric" in failed.error
    broken = proposer.mutate("def f(:\n", None, 0)
    assert broken.code is None and broken.error and "cannot be mutated" in broken.error
    no_block = proposer.mutate("x = 1 + 2\n", None, 0)
    assert no_block.code is None and no_block.error and "EVOLVE-BLOCK" in no_block.error


def _program(pid: int, code: str) -> Program:
    return Program(
        id=pid,
        run_id=1,
        code=code,
        code_hash=normalized_hash(code),
        status=Status.COMPLETE,
        iteration=pid,
        score=-1.0,
    )


def test_propose_implements_the_proposer_protocol() -> None:
    proposer = OfflineProposer(seed=1)
    assert isinstance(proposer, Proposer)
    spec = ProblemSpec.model_validate(
        {
            "name": "toy",
            "description": "toy",
            "verifier": {"class": "x:Y"},
            "entry_points": [{"name": "schedule", "signature": "schedule(p, d, w)"}],
        }
    )
    request = ProposalRequest(
        parent=_program(1, LOOP_SEED),
        inspirations=[],
        other_parent=_program(2, KEY_SEED),
        kind="crossover",
        problem=spec,
        seed=42,
    )
    proposal = asyncio.run(proposer.propose(request))
    assert isinstance(proposal, Proposal) and proposal.code is not None
    assert proposal == proposer.mutate(LOOP_SEED, KEY_SEED, 42)
    assert proposal.cost_usd == 0.0 and proposal.llm_call_id is None


NAMES = st.sampled_from(["t", "p[j]", "d[j]", "w[j]", "total", "2", "0.5", "3.0"])


def _expressions() -> st.SearchStrategy[str]:
    return st.recursive(
        NAMES,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(
                lambda x: f"({x[0]} {x[1]} {x[2]})"
            ),
            st.tuples(st.sampled_from(["min", "max"]), inner, inner).map(
                lambda x: f"{x[0]}({x[1]}, {x[2]})"
            ),
        ),
        max_leaves=8,
    )


@settings(max_examples=60, deadline=None)
@given(expression=_expressions(), seed=st.integers(0, 2**16))
def test_any_priority_expression_mutates_to_valid_python(expression: str, seed: int) -> None:
    parent = (
        "def schedule(p, d, w):\n    total = sum(p)\n    t = 0\n    order = []\n"
        "    for j in range(len(p)):\n        # EVOLVE-BLOCK-START\n"
        f"        key = {expression}\n        # EVOLVE-BLOCK-END\n"
        "        order.append((key, j))\n        t += p[j]\n    return order\n"
    )
    proposal = OfflineProposer(seed=seed).mutate(parent, None, seed)
    assert proposal.code is not None, proposal.error
    assert_good_child(parent, proposal.code)


def test_children_never_add_self_cancelling_expressions() -> None:
    """``max(x, x)``, ``x - x`` and friends look new but are dead ends for the search."""
    from evolve.mutators.analysis import analyse, degenerate_count

    assert degenerate_count(analyse(KEY_SEED.replace("d[j] + 0.0", "max(d[j], d[j]) + 0.0"))) == 1
    assert degenerate_count(analyse(KEY_SEED.replace("mean_p\n", "(t - t)\n"))) == 1
    for parent in SEEDS:
        for request_seed in range(80):
            child = OfflineProposer(seed=13).mutate(parent, None, request_seed).code
            assert child is not None
            assert degenerate_count(analyse(child)) == degenerate_count(analyse(parent))
