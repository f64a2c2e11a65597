"""The kind backend: the same audit settings as the local backend, through kind's cluster config.

config.py renders the kind.x-k8s.io/v1alpha4 Cluster config and its mounts, validate.py checks it
with kind's own Go code (controlplane/kindcheck), cluster.py creates and deletes the cluster and
manifest.py proves the flags reached the node's kube-apiserver static pod.
"""
