"""confluent-kafka-python (librdkafka) static membership: member a joins GROUP with group.instance.id
'static-1' and takes TOPIC; member b starts with the same instance id (a second process of the same
instance: a restart while the old one still runs). b takes the instance over; a, still running, must
be fenced for good (a fatal FENCED_INSTANCE_ID error) rather than take the instance back, which b
would then do in turn, for ever. Usage: confluent-kafka-static.py BOOTSTRAP TOPIC GROUP; prints each
member's assignments, a's fatal error, and how often each was assigned."""
import sys
import time

from confluent_kafka import Consumer, KafkaError

bootstrap, topic, group = sys.argv[1], sys.argv[2], sys.argv[3]
fatal = {}
assigns = {'a': 0, 'b': 0}


def member(name):
    def on_error(err):
        # librdkafka raises a fatal error as an event of code _FATAL (the cause is in its text).
        if (err.fatal() or err.code() == KafkaError._FATAL) and name not in fatal:
            fatal[name] = err.str()
            print(name, 'fatal', err.str(), flush=True)

    conf = {'bootstrap.servers': bootstrap, 'group.id': group, 'group.instance.id': 'static-1',
            'session.timeout.ms': 10000, 'heartbeat.interval.ms': 300, 'auto.offset.reset': 'earliest',
            'error_cb': on_error}
    consumer = Consumer(conf)

    def on_assign(c, parts):
        assigns[name] += 1
        print(name, 'assign', sorted(p.partition for p in parts), flush=True)

    consumer.subscribe([topic], on_assign=on_assign)
    return consumer


def poll(consumers):
    for name, c in consumers:
        msg = c.poll(0.05)
        # A fatal error comes as an error event on the consumer's queue (and to error_cb).
        if msg is not None and msg.error() is not None:
            err = msg.error()
            if (err.fatal() or err.code() == KafkaError._FATAL) and name not in fatal:
                fatal[name] = err.str()
                print(name, 'fatal', err.str(), flush=True)


def until(condition, consumers, what, seconds=60):
    deadline = time.time() + seconds
    while not condition():
        if time.time() > deadline:
            sys.exit('timed out waiting for ' + what + ' ' + str(assigns))
        poll(consumers)


a = member('a')
until(lambda: assigns['a'] > 0 and len(a.assignment()) == 2, [('a', a)], 'a to own both partitions')
b = member('b')
until(lambda: 'a' in fatal, [('a', a), ('b', b)], 'a to be fenced')
# Past a's session timeout: nobody takes the instance back and forth.
end = time.time() + 12
while time.time() < end:
    poll([('a', a), ('b', b)])
print('final assigns a', assigns['a'], 'b', assigns['b'], 'b owns', sorted(p.partition for p in b.assignment()),
      flush=True)
b.close()
