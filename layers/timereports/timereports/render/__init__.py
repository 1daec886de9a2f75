"""Renderers: a finished ReportTable in, bytes or email messages out. Pure: no network, no AWS, no clock reads
(the caller's clock gives the send time). Import the submodule you need (csv, email, email_body)."""
