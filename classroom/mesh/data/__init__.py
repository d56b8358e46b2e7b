"""The data plane: the proxy process, each student's hand, the stacks of layers a note meets
(stack.py assembles them), links, outcomes, routing, resilience rules and the sealed envelope."""
