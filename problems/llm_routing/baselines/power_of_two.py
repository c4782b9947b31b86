"""LLM request router: send each arriving inference request to one of the serving
instances of a cluster so that requests finish as soon as possible."""

from __future__ import annotations

# EVOLVE-BLOCK-START
import random


class Router:
    """Power of two choices: sample two instances, take the one with fewer requests."""

    def __init__(self) -> None:
        self.rng = random.Random(0)

    def route(self, request: dict, instances: list[dict]) -> int:
        if len(instances) < 2:
            return 0
        a, b = self.rng.sample(range(len(instances)), 2)
        def load(k: int) -> int:
            return instances[k]["queued"] + instances[k]["running"]
        return a if load(a) <= load(b) else b
# EVOLVE-BLOCK-END


# One Router per simulated cluster: the verifier runs several workloads at once and
# passes the simulation id with every call, so each cluster keeps its own router state.
_routers: dict[str, Router] = {}


def route(sim_id: str, request: dict, instances: list[dict]) -> int:
    router = _routers.get(sim_id)
    if router is None:
        router = _routers[sim_id] = Router()
    return router.route(request, instances)
