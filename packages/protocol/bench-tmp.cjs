const pl = require('@grpc/proto-loader');
(async () => {
  const { MessageCodec } = await import('./dist/grpc/message-codec.js');
  const opts = {
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: ['../../proto'],
  };
  const d = { ...pl.loadSync('samsa/v1/broker.proto', opts), ...pl.loadSync('samsa/v1/replication.proto', opts) };
  const cases = {
    ProduceStreamRequest: {
      correlationId: 5,
      request: {
        acks: -1,
        timeoutMs: 30000,
        topics: [{ name: 'orders', partitions: [{ partition: 1, records: Buffer.alloc(100, 3) }] }],
      },
    },
    ReplicaFetchRequest: {
      replicaId: 2,
      maxWaitMs: 500,
      minBytes: 1,
      maxBytes: 1e7,
      topics: [
        {
          name: 'ab',
          partitions: [
            {
              partition: 0,
              fetchOffset: 123456,
              currentLeaderEpoch: 1,
              lastFetchedEpoch: 1,
              partitionMaxBytes: 1048576,
              logStartOffset: 0,
            },
          ],
        },
      ],
    },
    ReplicaFetchResponse: {
      topics: [
        {
          name: 'ab',
          partitions: [
            {
              partition: 0,
              errorCode: 0,
              errorMessage: '',
              highWatermark: 123456,
              logStartOffset: 0,
              records: Buffer.alloc(170, 1),
            },
          ],
        },
      ],
    },
  };
  for (let rep = 0; rep < 3; rep++)
    for (const [name, msg] of Object.entries(cases)) {
      const ref = d[`samsa.v1.${name}`];
      const c = MessageCodec.fromDefinition(d, `samsa.v1.${name}`);
      const bytes = ref.serialize(msg);
      const time = (f) => {
        for (let i = 0; i < 20000; i++) f();
        const t = process.hrtime.bigint();
        for (let i = 0; i < 200000; i++) f();
        return Number(process.hrtime.bigint() - t) / 200000;
      };
      console.log(
        name.padEnd(24),
        'decode generic',
        time(() => ref.deserialize(bytes)).toFixed(0),
        'ns fast',
        time(() => c.decode(bytes)).toFixed(0),
        'ns | encode generic',
        time(() => ref.serialize(msg)).toFixed(0),
        'ns fast',
        time(() => c.encode(msg)).toFixed(0),
        'ns',
      );
    }
})();
