"""Spot scheduling policy: decide every 10 minutes whether a deadline-bound job runs on a
spot instance, an on-demand instance, or nothing, so that it finishes at the lowest cost."""

from __future__ import annotations

# EVOLVE-BLOCK-START
class Policy:
    """Greedy: spot whenever it is available, otherwise wait.

    The simulator's safety rule switches to on-demand by itself once waiting any longer
    would miss the deadline, so this policy never misses one.
    """

    def decide(self, obs: dict) -> str:
        if obs["spot_available"]:
            return "SPOT"
        return "NONE"
# EVOLVE-BLOCK-END


# One Policy per simulation: the verifier runs many simulations at once and passes the
# simulation id with every call, so each job keeps its own policy state.
_policies: dict[str, Policy] = {}


def decide(sim_id: str, obs: dict) -> str:
    policy = _policies.get(sim_id)
    if policy is None:
        policy = _policies[sim_id] = Policy()
    return policy.decide(obs)
