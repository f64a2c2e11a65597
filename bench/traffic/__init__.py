"""Locust traffic against the apiserver, recorded at full resolution.

Orchestrator side (never imports locust): ``launcher.run_traffic`` runs a profile from
``profiles.yaml`` in its own Locust process(es) and returns a ``TrafficResult``;
``samples`` reads and summarizes the gzip CSV samples; ``worker`` runs
`auditbench traffic worker` for a master on another host. Locust side: ``locustfile``
(``actions`` plans each request class, ``recorder`` writes the per-process samples,
``distributed`` carries workers' samples and canaries to the master over Locust's channel;
``transport`` is that protocol's pure half).
"""
