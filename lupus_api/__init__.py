"""Lupus REST API (FastAPI): push metric points from any job, query, request detection; bearer-token auth.

Start it with ``lupus serve api``; see ``docs/api.md``.
"""
