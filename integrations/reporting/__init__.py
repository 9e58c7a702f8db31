"""The report rendered with a charting library: the self-contained HTML page."""
