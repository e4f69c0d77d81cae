"""The patrol service. It imports nothing from another service and meets them only on Kafka."""
