"""The local control plane: build etcd/kube-apiserver/kube-controller-manager and run them."""
