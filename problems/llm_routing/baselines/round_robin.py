"""LLM request router: send each arriving inference request to one of the serving
instances of a cluster so that requests finish as soon as possible."""

from __future__ import annotations

# EVOLVE-BLOCK-START
class Router:
    """Round robin: the load-blind baseline every production load balancer starts from."""

    def __init__(self) -> None:
        self.next = 0

    def route(self, request: dict, instances: list[dict]) -> int:
        choice = self.next % len(instances)
        self.next += 1
        return choice
# EVOLVE-BLOCK-END


# One Router per simulated cluster: the verifier runs several workloads at once and
# passes the simulation id with every call, so each cluster keeps its own router state.
_routers: dict[str, Router] = {}


def route(sim_id: str, request: dict, instances: list[dict]) -> int:
    router = _routers.get(sim_id)
    if router is None:
        router = _routers[sim_id] = Router()
    return router.route(request, instances)
