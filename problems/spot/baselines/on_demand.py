"""Spot scheduling policy: decide every 10 minutes whether a deadline-bound job runs on a
spot instance, an on-demand instance, or nothing, so that it finishes at the lowest cost."""

from __future__ import annotations

# EVOLVE-BLOCK-START
class Policy:
    """Always on-demand: the most expensive safe policy, the upper bound on cost."""

    def decide(self, obs: dict) -> str:
        return "ON_DEMAND"
# EVOLVE-BLOCK-END


# One Policy per simulation: the verifier runs many simulations at once and passes the
# simulation id with every call, so each job keeps its own policy state.
_policies: dict[str, Policy] = {}


def decide(sim_id: str, obs: dict) -> str:
    policy = _policies.get(sim_id)
    if policy is None:
        policy = _policies[sim_id] = Policy()
    return policy.decide(obs)
