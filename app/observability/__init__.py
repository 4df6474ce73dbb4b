"""Observability measured by the worker itself: consumer lag, table state, build info, tracing."""
