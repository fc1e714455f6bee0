"""The Step Functions API on Lamina's port (JSON 1.0, ``AWSStepFunctions.*``, SigV4 ``states``).

``records`` holds the values, ``store`` their SQLite tables, ``executions`` runs them on
the engine in :mod:`lamina.workflows`, ``tasks`` connects Task states to functions,
``operations`` is the API and ``handler`` mounts it.
"""
