"""The lab on a real control plane (preview): upstream etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and istiod, our node agent (pods as processes in network namespaces), Envoys
configured by istiod over ADS. Selected by ``python -m tests.lab up --control-plane real``.
See docs/lab.md, "The real control plane (preview)"."""
