"""Grading submitted notebooks: run them in a box, check answers outside it, write grades."""
