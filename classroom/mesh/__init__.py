"""The real mesh: runtime (clock, wire, processes), control (the office), data (the proxies), room."""
