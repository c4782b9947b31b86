"""LLM request router: send each arriving inference request to one of the serving
instances of a cluster so that requests finish as soon as possible."""

from __future__ import annotations

# EVOLVE-BLOCK-START
class Router:
    """Join the shortest queue: fewest requests queued or running (ties: lowest index)."""

    def route(self, request: dict, instances: list[dict]) -> int:
        loads = [inst["queued"] + inst["running"] for inst in instances]
        return loads.index(min(loads))
# EVOLVE-BLOCK-END


# One Router per simulated cluster: the verifier runs several workloads at once and
# passes the simulation id with every call, so each cluster keeps its own router state.
_routers: dict[str, Router] = {}


def route(sim_id: str, request: dict, instances: list[dict]) -> int:
    router = _routers.get(sim_id)
    if router is None:
        router = _routers[sim_id] = Router()
    return router.route(request, instances)
