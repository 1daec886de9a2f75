"""The Intervals REST API adapter: wire models, the client (paging, retries, pacing, quota), reference cache."""
