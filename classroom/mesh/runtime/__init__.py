"""What every process of a round stands on: the clock, the dice, the wire, typed messages,
sockets, process specs, the process skeleton, the launcher and the runner (round)."""
