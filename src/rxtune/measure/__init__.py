"""Measure: strategies, the ping-pong runs, the counters around them, the statistics."""
