"""In-memory stand-ins for the ports use cases talk to: each service's store and the publisher.
Use-case tests run on these; the contract suites in tests/contract hold them to the adapters."""
