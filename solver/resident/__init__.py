"""The resident engine: programs grounded once per (rule set, encounter shape), answers by assigning
externals. See solver/resident/engine.py for its API."""
from solver.resident.engine import ResidentEngine

__all__ = ["ResidentEngine"]
