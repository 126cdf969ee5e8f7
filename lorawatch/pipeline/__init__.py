"""pipeline: meter semantics, enrichment from the inventory, batching, durable store, ack."""
