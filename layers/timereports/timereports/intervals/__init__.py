"""The Intervals REST API: typed models, the client (paging, retries, pacing, quota) and a local simulator."""
