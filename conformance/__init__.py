"""The NUMA page-migration conformance suite: clauses, cases, backends, runner."""
