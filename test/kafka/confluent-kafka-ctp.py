"""confluent-kafka-python (librdkafka) consume-transform-produce: a consumer in GROUP reads COUNT records
of INPUT; for each poll's records one transaction writes 'out-VALUE' to OUTPUT (same partition) and
commits the consumer's positions with send_offsets_to_transaction (TxnOffsetCommit with the member's id
and generation, KIP-447). Usage: confluent-kafka-ctp.py BOOTSTRAP INPUT OUTPUT GROUP TRANSACTIONAL_ID COUNT
Prints 'done N' and then 'committed P:OFFSET ...'."""
import sys

from confluent_kafka import Consumer, Producer

bootstrap, source, sink, group, txid, count = sys.argv[1:6] + [int(sys.argv[6])]
consumer = Consumer({
    'bootstrap.servers': bootstrap,
    'group.id': group,
    'auto.offset.reset': 'earliest',
    'enable.auto.commit': False,
    'isolation.level': 'read_committed',
    'session.timeout.ms': 10000,
})
producer = Producer({'bootstrap.servers': bootstrap, 'transactional.id': txid})
producer.init_transactions(30)
consumer.subscribe([source])
done = 0
while done < count:
    msgs = consumer.consume(num_messages=10, timeout=30)
    msgs = [m for m in msgs if m.error() is None]
    if not msgs:
        sys.exit('timed out after %d records' % done)
    producer.begin_transaction()
    for m in msgs:
        producer.produce(sink, value=b'out-' + m.value(), partition=m.partition())
    producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                         consumer.consumer_group_metadata(), 30)
    producer.commit_transaction(30)
    done += len(msgs)
print('done', done, flush=True)
committed = consumer.committed(consumer.assignment(), timeout=10)
print('committed', ' '.join('%d:%d' % (tp.partition, tp.offset) for tp in sorted(committed, key=lambda t: t.partition)),
      flush=True)
consumer.close()
