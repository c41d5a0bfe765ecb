"""What a router may depend on: the checker of the running service.

    check = Depends(get_checker)
    results = await check(encounters)   # list[Encounter] -> list[dict], in order

    explore = Depends(get_explorer)
    answer = await explore(module_function, encounter, ...)   # module_function(engine, encounter, ...)

Each result is the command line's result object with an extra key "decision": {"id": str, "time": str}, the
id of its line in the decision log. The checker runs the solver in the service's worker processes, so
awaiting it never blocks the event loop. Tests override get_checker (app.dependency_overrides).
"""
from __future__ import annotations

from typing import Awaitable, Callable

from fastapi import Request

from solver.encounter import Encounter

Checker = Callable[[list[Encounter]], Awaitable[list[dict]]]
Explorer = Callable[..., Awaitable[object]]


def get_checker(request: Request) -> Checker:
    """The checker of the app serving this request (set up in its lifespan)."""
    return request.app.state.service.check_encounters


def get_explorer(request: Request) -> Explorer:
    """`await explore(func, *args)` runs func(engine, *args) in a worker of the service (func a module-level
    function, args picklable): what-if, compare and explain answer with the solver off the event loop."""
    return request.app.state.service.explore
