"""Routers the app includes besides its own: (module, attribute) pairs, imported when the app is built.

A router gets the checker through the FastAPI dependency solver.service.deps.get_checker."""
from __future__ import annotations

ROUTERS: list[tuple[str, str]] = [("solver.service.cds_hooks", "router"),  # CDS Hooks (Da Vinci CRD)
                                  ("solver.service.explore_routes", "router"),  # POST /v1/whatif, /v1/compare
                                  ("solver.service.explain", "router")]  # POST /v1/explain
ROUTERS.append(("solver.service.workbench", "router"))  # the workbench page, GET /workbench
