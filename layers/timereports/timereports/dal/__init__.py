"""Adapters to AWS: each implements a port of `timereports.logic.ports` with boto3 (DynamoDB, S3, SES, SQS).
Only the composition root (`timereports.bootstrap`) builds them.
"""
