"""Development tools of timereports: the Intervals simulator and its data set, local AWS (moto), in-memory
fakes of the ports, the `timereports` command line and the demo.

Installed editable into .venv; never copied into the Lambda layer.
"""
