"""Inbound HTTP: the Reports API's routes on Powertools' API Gateway HTTP API resolver (the Lambda and `timereports
serve` run the same one)."""
