"""Delivery adapters: the S3 archive and the SES mailer (the only modules here that call AWS)."""
