"""timereports: scheduled Intervals time reports, archived in S3 and emailed through SES."""

__version__ = "0.1.0"
