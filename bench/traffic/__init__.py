"""Locust traffic against the apiserver, recorded at full resolution.

Orchestrator side (never imports locust): ``launcher.run_traffic`` runs a profile from
``profiles.yaml`` in its own Locust process(es) and returns a ``TrafficResult``;
``samples`` reads and summarizes the gzip CSV samples. Locust side: ``locustfile``
(``actions`` plans each request class, ``recorder`` writes the per-process samples).
"""
