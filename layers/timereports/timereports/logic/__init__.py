"""The use cases (run a report, dispatch due runs, handle failures, pull) and the ports they need (`ports.py`).
They receive their adapters; they never build one.
"""
