"""Monitoring any Dagster asset: numeric materialization metadata of a selection -> metric points -> detection."""
