"""The pure data of the product: report definitions and their vocabulary, events, run records, the report table."""
