"""Pre-send content and abuse checks (issue 4): see verdict.py for the interface."""
