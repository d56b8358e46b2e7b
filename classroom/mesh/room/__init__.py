"""The room: the aisles (the network that carries every link), the students (the workloads) and
the teacher (the adversary on the wire)."""
