"""Metrics: KPI functions, the metric registry, scopes, forecast, gates and the CLIs.

Metrics read the domain tables only (never connectors) and are computed on read.
"""
