"""The real mesh: the office (control plane), the students, their proxies and the wire."""
