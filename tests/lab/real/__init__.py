"""The lab: upstream etcd, kube-apiserver, kube-controller-manager, kube-scheduler and istiod, our
node agent (pods as processes in network namespaces), two upstream Envoys configured by istiod over
ADS, Prometheus. ``python -m tests.lab up|status|down|serve``; see docs/lab.md."""
