"""One router per resource; :mod:`lupus_api.app` mounts them under ``/api/v1``."""
