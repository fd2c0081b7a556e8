"""confluent-kafka-python (librdkafka) with the cooperative-sticky assignor: member a takes all of a
4-partition TOPIC, member b joins GROUP, and a gives up only the partitions that move (incremental
rebalancing through the classic protocol). Usage: confluent-kafka-cooperative.py BOOTSTRAP TOPIC GROUP;
prints each member's assign/revoke callbacks and the final assignments."""
import sys
import time

from confluent_kafka import Consumer

bootstrap, topic, group = sys.argv[1], sys.argv[2], sys.argv[3]
conf = {'bootstrap.servers': bootstrap, 'group.id': group, 'session.timeout.ms': 10000,
        'partition.assignment.strategy': 'cooperative-sticky', 'auto.offset.reset': 'earliest'}


def member(name):
    consumer = Consumer(conf)

    def log(kind):
        return lambda c, parts: print(name, kind, sorted(p.partition for p in parts), flush=True)

    consumer.subscribe([topic], on_assign=log('assign'), on_revoke=log('revoke'))
    return consumer


def owned(consumer):
    return sorted(p.partition for p in consumer.assignment())


def until(condition, consumers, what):
    deadline = time.time() + 60
    while not condition():
        if time.time() > deadline:
            sys.exit('timed out waiting for ' + what)
        for c in consumers:
            c.poll(0.05)


a = member('a')
until(lambda: len(owned(a)) == 4, [a], 'a to own every partition')
b = member('b')
until(lambda: len(owned(a)) == 2 and len(owned(b)) == 2, [a, b], 'a 2/2 split')
print('final a', owned(a), 'b', owned(b), flush=True)
b.close()
a.close()
