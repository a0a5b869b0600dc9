"""Demo traffic: customers with personas walking multi-channel journeys, as raw events.

    Traffic(config).events()  ->  GeneratedEvent (channel, raw bytes, event and delivery time)
                              ->  KafkaOutput (raw topics, paced) | FileOutput (JSON Lines)

Deterministic for a seed: the same configuration gives the same events in the same order.
"""
