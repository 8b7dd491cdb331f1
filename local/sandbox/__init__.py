"""An offline replica of KVK's test environment (reference §10), with fault injection."""
