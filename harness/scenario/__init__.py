"""The randomized scenario engine (issue 22, deliverable 5).

A seeded, replayable run of the real firmware on the unix port against the
real `ocpp` central system, through a fault-injecting WebSocket proxy, with
EVSE events on two connectors, central-system calls, link, storage and
power faults, and invariants checked while it runs:

- malform.py: malformed CALLRESULTs generated from the 1.6 response schemas
  the `ocpp` package ships;
- proxy.py: the proxy between the firmware and the central system (reply
  faults, injected CALLs, probes, close, half-open, 503 at the upgrade);
- engine.py: the plan (drawn from the seed), its execution, the invariants
  and the summary.

Entry points: tests/test_scenario.py (`make test`, a short fixed budget)
and harness/soak.py (`make soak MINUTES=30 SEED=...`).
"""
