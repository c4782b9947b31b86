"""Spot scheduling policy: decide every 10 minutes whether a deadline-bound job runs on a
spot instance, an on-demand instance, or nothing, so that it finishes at the lowest cost."""

from __future__ import annotations

# EVOLVE-BLOCK-START
class Policy:
    """Uniform Progress (NSDI'24 "Can't Be Late"): stay on the straight line from zero
    progress at the start to the whole task at the deadline.

    Spot whenever available; otherwise on-demand while behind the line, staying on it until
    two restart overheads ahead (so it does not pay an overhead on every flip), and wait
    while ahead of the line.
    """

    def decide(self, obs: dict) -> str:
        if obs["spot_available"]:
            return "SPOT"
        rate = obs["task_hours"] / obs["deadline_hours"]
        line = rate * (obs["elapsed_hours"] + obs["tick_hours"])
        margin = 2 * obs["restart_overhead_hours"] if obs["current_type"] == "ON_DEMAND" else 0.0
        return "ON_DEMAND" if obs["work_done_hours"] < line + margin else "NONE"
# EVOLVE-BLOCK-END


# One Policy per simulation: the verifier runs many simulations at once and passes the
# simulation id with every call, so each job keeps its own policy state.
_policies: dict[str, Policy] = {}


def decide(sim_id: str, obs: dict) -> str:
    policy = _policies.get(sim_id)
    if policy is None:
        policy = _policies[sim_id] = Policy()
    return policy.decide(obs)
