"""The pure report engine: time frames, schedules, group attributes, query plans, aggregation, views, quota rules.
No I/O: no boto3, no HTTP, no clock reads beyond what a caller passes in.
"""
