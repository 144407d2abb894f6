"""Decide: a recommendation that follows from measured figures, with the commands and code."""
