"""Grading a class with the hidden graders: running them, keeping the records, and what is handed out of them."""
