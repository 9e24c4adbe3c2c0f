"""Executor selection by configuration: multiprocess on one machine, Kubernetes pods with `LUPUS_EXECUTOR=k8s`."""

from __future__ import annotations

import os

import dagster as dg


def executor_from_env() -> dg.ExecutorDefinition:
    """`dg.multiprocess_executor` by default; `dagster_k8s.k8s_job_executor` when `LUPUS_EXECUTOR=k8s`.

    Under k8s each step runs as a pod; per-product pod resources arrive as `dagster-k8s/config`
    op tags on the product's assets (see `product_assets.pod_tags`).

    >>> executor_from_env().name in ("multiprocess", "k8s")
    True
    """
    choice = os.environ.get("LUPUS_EXECUTOR", "multiprocess")
    if choice == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    if choice != "multiprocess":
        raise ValueError(f"LUPUS_EXECUTOR must be 'multiprocess' or 'k8s', got {choice!r}")
    return dg.multiprocess_executor
