"""Developer tools: the embedded services, the traffic generator, the demo, SQL lint, the
browser helper and the contract docs. They run on a laptop or in CI, never in a Lambda or on
the warehouse host, and may import every other part of the project."""
