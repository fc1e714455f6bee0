"""Schedules firing: the loop that delivers due rules' events to their targets. The rules and
their API (EventBridge) are :mod:`lamina.services.eventbridge`."""
