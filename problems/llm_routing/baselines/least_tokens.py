"""LLM request router: send each arriving inference request to one of the serving
instances of a cluster so that requests finish as soon as possible."""

from __future__ import annotations

# EVOLVE-BLOCK-START
class Router:
    """Least outstanding tokens: the instance with the least prompt work waiting plus KV
    tokens in use, a proxy for how much work is still ahead of a new request."""

    def route(self, request: dict, instances: list[dict]) -> int:
        work = [inst["pending_prefill_tokens"] + inst["kv_used_tokens"] for inst in instances]
        return work.index(min(work))
# EVOLVE-BLOCK-END


# One Router per simulated cluster: the verifier runs several workloads at once and
# passes the simulation id with every call, so each cluster keeps its own router state.
_routers: dict[str, Router] = {}


def route(sim_id: str, request: dict, instances: list[dict]) -> int:
    router = _routers.get(sim_id)
    if router is None:
        router = _routers[sim_id] = Router()
    return router.route(request, instances)
