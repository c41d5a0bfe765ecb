"""The HTTP service (`payerkb serve`): FastAPI on uvicorn, the solver in worker processes, a decision log."""
