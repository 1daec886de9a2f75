"""Renderers: a finished ReportTable in, bytes or email messages out. Pure: no network, no AWS, no clock reads
except an explicit default for the send time. Import the submodule you need (csv, email, email_body)."""
