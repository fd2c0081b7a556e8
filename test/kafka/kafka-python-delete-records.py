"""DeleteRecords through kafka-python's wire layer (its framing, request header, response parsing and
error table). The installed kafka-python (2.0.2) has no KafkaAdminClient.delete_records, nor does the
installed confluent-kafka (1.7) have AdminClient.delete_records, so the request is declared here from
Kafka's DeleteRecordsRequest v0/v1 schema and sent to every broker; the partition's leader answers.
Usage: kafka-python-delete-records.py BOOTSTRAP TOPIC PARTITION OFFSET VERSION.
Prints 'low_watermark N' (the leader's answer), or 'error NAME' when no broker deleted."""
import sys

from kafka.admin import KafkaAdminClient
from kafka.errors import for_code
from kafka.protocol.api import Request, Response
from kafka.protocol.types import Array, Int16, Int32, Int64, Schema, String

bootstrap, topic, partition, offset, version = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])

RESPONSE_SCHEMA = Schema(
    ('throttle_time_ms', Int32),
    ('topics', Array(('name', String('utf-8')), ('partitions', Array(
        ('partition_index', Int32), ('low_watermark', Int64), ('error_code', Int16))))))
REQUEST_SCHEMA = Schema(
    ('topics', Array(('name', String('utf-8')), ('partitions', Array(('partition_index', Int32), ('offset', Int64))))),
    ('timeout_ms', Int32))


def versioned(v):
    response = type('DeleteRecordsResponse_v%d' % v, (Response,), {'API_KEY': 21, 'API_VERSION': v, 'SCHEMA': RESPONSE_SCHEMA})
    return type('DeleteRecordsRequest_v%d' % v, (Request,), {
        'API_KEY': 21, 'API_VERSION': v, 'RESPONSE_TYPE': response, 'SCHEMA': REQUEST_SCHEMA})


admin = KafkaAdminClient(bootstrap_servers=bootstrap, api_version=(2, 0, 0))
request = versioned(version)([(topic, [(partition, offset)])], 15000)
errors = []
for broker in admin._client.cluster.brokers():
    future = admin._send_request_to_node(broker.nodeId, request)
    admin._wait_for_futures([future])
    (_, partitions), = future.value.topics
    (_, low_watermark, error_code), = partitions
    if error_code == 0:
        print('low_watermark', low_watermark, flush=True)
        break
    errors.append(for_code(error_code).__name__)
else:
    print('error', ' '.join(sorted(set(errors))), flush=True)
admin.close()
