"""The composition root: the one place that builds real adapters (boto3, HTTP) from settings, one module per
handler so that each Lambda imports only the adapters it builds (the dispatcher never loads the Intervals client,
the renderers or the Reports API).

Everything else receives its collaborators as arguments, so tests can hand in the simulator's URL, moto-backed
clients or in-memory fakes without patching anything.
"""
