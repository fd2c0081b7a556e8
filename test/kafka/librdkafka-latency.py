"""Per-record latency of librdkafka (through confluent-kafka-python) producing at a fixed rate: the time
from produce() to the delivery report, like `samsa bench produce --throughput`. Used by
scripts/bench-kafka.mjs. Usage: librdkafka-latency.py BOOTSTRAP TOPIC RATE RECORDS ACKS; prints JSON."""
import json
import sys
import time

from confluent_kafka import Producer

bootstrap, topic, rate, records, acks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
# Shaped like the Samsa SDK's producer so the two compare: linger.ms 1 (its default), one request in
# flight (it keeps one per partition), TCP_NODELAY (librdkafka 2.0 leaves Nagle on, which holds small
# requests behind delayed ACKs).
producer = Producer({'bootstrap.servers': bootstrap, 'acks': acks, 'linger.ms': 1, 'socket.nagle.disable': True,
                     'max.in.flight.requests.per.connection': 1})
latencies = []
value = b'x' * 100


def report(sent_at):
    return lambda err, _msg: latencies.append(None if err else time.perf_counter() - sent_at)


start = time.perf_counter()
for i in range(records):
    due = start + i / rate
    while True:
        now = time.perf_counter()
        if now >= due:
            break
        producer.poll(min(due - now, 0.001))
    producer.produce(topic, value=value, partition=0, on_delivery=report(time.perf_counter()))
    producer.poll(0)
producer.flush(60)
elapsed = time.perf_counter() - start
ok = sorted(x for x in latencies if x is not None)
pick = lambda q: ok[min(len(ok) - 1, int(q * len(ok)))] * 1000
print(json.dumps({'records': len(ok), 'failed': len(latencies) - len(ok), 'recordsPerSec': len(ok) / elapsed,
                  'p50Ms': pick(0.5), 'p99Ms': pick(0.99), 'p999Ms': pick(0.999), 'maxMs': ok[-1] * 1000}))
