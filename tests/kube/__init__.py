"""Real kube-apiservers (1.24 and 1.36) on loopback, for tests that must see the real admission
chain: controlplane.py starts them, fixtures.py hands them to tests."""
