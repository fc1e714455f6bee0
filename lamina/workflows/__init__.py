"""The Amazon States Language engine: a pure interpreter (definition -> next step) and its
durable executor. The Step Functions API that drives it is ``lamina.services.stepfunctions``.
"""
