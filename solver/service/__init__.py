"""The HTTP service: FastAPI routers over the engine."""
