"""Hulin's shared package: contracts (events, org directory, policy) and plumbing (Kafka, MongoDB,
auth, logging, metrics) used by more than one service. It never holds a service's business rules."""
