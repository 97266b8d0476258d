"""Ticket Rail: auto-graded exercises in background processing (FastAPI, Redis, workers)."""

__version__ = "0.1.0"
