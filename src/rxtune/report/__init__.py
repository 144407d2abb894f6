"""Pictures of the measurements: figures (matplotlib, PNG) and one self-contained HTML
report from bench and sweep results."""
