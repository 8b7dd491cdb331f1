"""AWS adapters: the DynamoDB table (cache, global limiter and budget, caller budgets) and the event bus.

They guard and cache KVK calls, so they may use the KVK adapter's vocabulary (``kvkgate.kvk``);
the KVK adapter never imports them.
"""
