"""The Amazon States Language engine: a pure interpreter (definition → next step) and its
async driver (``runner``). The Step Functions API, durable executions and task
integrations that use it are in ``lamina.services.stepfunctions``.
"""
