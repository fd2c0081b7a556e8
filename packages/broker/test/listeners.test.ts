/**
 * Named listeners (Kafka's `listeners`, `advertised.listeners`, `inter.broker.listener.name`): parsing,
 * the rules between the three settings, what a broker registers, and which addresses Metadata hands a
 * client on each listener.
 */
import { describe, expect, it } from 'vitest';
import { SamsaError } from '@samsa/protocol';
import {
  BROKER_SETTINGS,
  advertisedEndpoints,
  listenerConfig,
  loadBrokerSettings,
  parseListeners,
  resolveSettings,
} from '../src/config.js';
import { endpointOn, formatListenerEndpoint, parseListenerEndpoint, type BrokerEndpoint } from '../src/listeners.js';
import { decodeBroker, encodeBroker } from '../src/controller/znodes.js';
import { brokersOn, describeTopic } from '../src/server/handlers/metadata.js';

const settingsWith = (layer: Record<string, string>) => resolveSettings(BROKER_SETTINGS, layer);

describe('parseListeners', () => {
  it('reads a plain host:port as the one listener PLAINTEXT (the behaviour before named listeners)', () => {
    expect(parseListeners('127.0.0.1:9092', 'listeners')).toEqual([
      { listener: 'PLAINTEXT', host: '127.0.0.1', port: 9092 },
    ]);
    expect(parseListeners('[::1]:0', 'listeners')).toEqual([{ listener: 'PLAINTEXT', host: '::1', port: 0 }]);
  });

  it('reads a comma list of NAME://host:port, upper-casing names as Kafka does', () => {
    expect(
      parseListeners('INTERNAL://0.0.0.0:19092, external://127.0.0.1:9092,V6://[::1]:9093,ANY://:9094', 'listeners'),
    ).toEqual([
      { listener: 'INTERNAL', host: '0.0.0.0', port: 19092 },
      { listener: 'EXTERNAL', host: '127.0.0.1', port: 9092 },
      { listener: 'V6', host: '::1', port: 9093 },
      { listener: 'ANY', host: '', port: 9094 },
    ]);
  });

  it('rejects malformed entries and duplicate names with InvalidConfig naming the setting', () => {
    expect(() => parseListeners('', 'listeners')).toThrow(/listeners must name at least one listener/);
    expect(() => parseListeners('INTERNAL://host', 'listeners')).toThrow(
      /'INTERNAL:\/\/host' is not NAME:\/\/host:port/,
    );
    expect(() => parseListeners('IN TERNAL://h:1', 'advertised.listeners')).toThrow(/advertised.listeners/);
    expect(() => parseListeners('A://h:70000', 'listeners')).toThrow(SamsaError);
    expect(() => parseListeners('A://h:1,a://h:2', 'listeners')).toThrow(/names the listener A twice/);
    expect(() => parseListeners('h:1,PLAINTEXT://h:2', 'listeners')).toThrow(/PLAINTEXT twice/);
    expect(() => parseListeners('localhost', 'listeners')).toThrow(/host:port/);
  });

  it("round-trips endpoints through Kafka's text form, IPv6 in brackets", () => {
    for (const text of ['EXTERNAL://127.0.0.1:9092', 'V6://[::1]:9093', 'INTERNAL://broker-1:19092']) {
      expect(formatListenerEndpoint(parseListenerEndpoint(text)!)).toBe(text);
    }
    expect(parseListenerEndpoint('127.0.0.1:9092')).toBeUndefined();
  });
});

describe('listenerConfig', () => {
  it('defaults: one PLAINTEXT listener, advertised as itself, used between brokers', () => {
    const config = listenerConfig(settingsWith({}));
    expect(config).toEqual({
      listeners: [{ listener: 'PLAINTEXT', host: '127.0.0.1', port: 9092 }],
      advertised: [{ listener: 'PLAINTEXT', host: '127.0.0.1', port: 9092 }],
      interBrokerListenerName: 'PLAINTEXT',
      protocols: new Map([['PLAINTEXT', 'GRPC']]),
    });
  });

  it("listener.security.protocol.map: KAFKA speaks Kafka's protocol by default, unnamed listeners gRPC", () => {
    const config = listenerConfig(settingsWith({ listeners: 'PLAINTEXT://:9092,KAFKA://:19092,OTHER://:29092' }));
    expect(config.protocols).toEqual(
      new Map([
        ['PLAINTEXT', 'GRPC'],
        ['KAFKA', 'PLAINTEXT'],
        ['OTHER', 'GRPC'],
      ]),
    );
    const mapped = listenerConfig(
      settingsWith({
        listeners: 'GRPC://:9092,PLAINTEXT://:19092',
        'listener.security.protocol.map': 'grpc:GRPC,plaintext:plaintext',
      }),
    );
    expect(mapped.protocols.get('PLAINTEXT')).toBe('PLAINTEXT');
    expect(() => listenerConfig(settingsWith({ listeners: 'KAFKA://:19092,PLAINTEXT://:9092' }))).toThrow(
      /must be a GRPC listener/,
    );
    expect(() => listenerConfig(settingsWith({ 'listener.security.protocol.map': 'X:SSL' }))).toThrow(/not supported/);
  });

  it('inter.broker.listener.name defaults to the first listener and is case-insensitive', () => {
    expect(
      listenerConfig(settingsWith({ listeners: 'EXTERNAL://:9092,INTERNAL://:19092' })).interBrokerListenerName,
    ).toBe('EXTERNAL');
    expect(
      listenerConfig(
        settingsWith({ listeners: 'EXTERNAL://:9092,INTERNAL://:19092', 'inter.broker.listener.name': 'internal' }),
      ).interBrokerListenerName,
    ).toBe('INTERNAL');
  });

  it("enforces Kafka's rules between the settings", () => {
    expect(() => listenerConfig(settingsWith({ listeners: 'A://:9092,B://127.0.0.1:9092' }))).toThrow(
      /A and B both use port 9092/,
    );
    // ephemeral ports never clash
    expect(() => listenerConfig(settingsWith({ listeners: 'A://:0,B://:0' }))).not.toThrow();
    expect(() => listenerConfig(settingsWith({ listeners: 'A://:1', 'advertised.listeners': 'B://h:1' }))).toThrow(
      /advertised.listeners names B, which is not one of listeners \(A\)/,
    );
    expect(() => listenerConfig(settingsWith({ listeners: 'A://:1', 'inter.broker.listener.name': 'C' }))).toThrow(
      /inter.broker.listener.name C is not one of listeners/,
    );
    expect(() =>
      listenerConfig(
        settingsWith({
          listeners: 'A://:1,B://:2',
          'advertised.listeners': 'A://h:1',
          'inter.broker.listener.name': 'B',
        }),
      ),
    ).toThrow(/inter.broker.listener.name B must be in advertised.listeners/);
  });

  it('is checked when settings are loaded, before anything is bound', async () => {
    await expect(
      loadBrokerSettings({ flags: { 'broker.id': '1', listeners: 'A://:1', 'inter.broker.listener.name': 'B' } }),
    ).rejects.toThrow(/inter.broker.listener.name B/);
    const ok = await loadBrokerSettings({
      flags: {
        'broker.id': '1',
        listeners: 'INTERNAL://0.0.0.0:19092,EXTERNAL://0.0.0.0:9092',
        'inter.broker.listener.name': 'INTERNAL',
      },
    });
    expect(ok['inter.broker.listener.name']).toBe('INTERNAL');
  });

  it('advertises wildcard hosts as 127.0.0.1 and port 0 as the bound port', () => {
    const config = listenerConfig(
      settingsWith({ listeners: 'INTERNAL://0.0.0.0:0,EXTERNAL://[::]:9092,LOCAL://:9093' }),
    );
    expect(
      advertisedEndpoints(
        config,
        new Map([
          ['INTERNAL', 40001],
          ['EXTERNAL', 9092],
          ['LOCAL', 9093],
        ]),
      ),
    ).toEqual([
      { listener: 'INTERNAL', host: '127.0.0.1', port: 40001 },
      { listener: 'EXTERNAL', host: '127.0.0.1', port: 9092 },
      { listener: 'LOCAL', host: '127.0.0.1', port: 9093 },
    ]);
    const docker = listenerConfig(
      settingsWith({
        listeners: 'INTERNAL://0.0.0.0:19092,EXTERNAL://0.0.0.0:9093',
        'advertised.listeners': 'INTERNAL://broker-2:19092,EXTERNAL://127.0.0.1:9093',
        'inter.broker.listener.name': 'INTERNAL',
      }),
    );
    expect(
      advertisedEndpoints(
        docker,
        new Map([
          ['INTERNAL', 19092],
          ['EXTERNAL', 9093],
        ]),
      ).map(formatListenerEndpoint),
    ).toEqual(['INTERNAL://broker-2:19092', 'EXTERNAL://127.0.0.1:9093']);
  });
});

describe('the registration znode', () => {
  const named: BrokerEndpoint = {
    id: 2,
    host: 'broker-2',
    port: 19092,
    rack: 'r1',
    endpoints: [
      { listener: 'INTERNAL', host: 'broker-2', port: 19092 },
      { listener: 'EXTERNAL', host: '127.0.0.1', port: 9093 },
    ],
  };

  it("is Kafka's version 4 shape with endpoints, host/port being the inter-broker endpoint", () => {
    expect(JSON.parse(encodeBroker(named))).toEqual({
      listener_security_protocol_map: { INTERNAL: 'PLAINTEXT', EXTERNAL: 'PLAINTEXT' },
      endpoints: ['INTERNAL://broker-2:19092', 'EXTERNAL://127.0.0.1:9093'],
      rack: 'r1',
      jmx_port: -1,
      host: 'broker-2',
      port: 19092,
      version: 4,
    });
    expect(decodeBroker(2, encodeBroker(named))).toEqual(named);
  });

  it("reads Kafka's registrations without a PLAINTEXT listener (host null, port -1)", () => {
    const kafka =
      '{"listener_security_protocol_map":{"CLIENT":"SASL_SSL","REPLICATION":"SSL"},' +
      '"endpoints":["CLIENT://k1:9094","REPLICATION://k1:9095"],"jmx_port":-1,"host":null,"port":-1,"version":4}';
    expect(decodeBroker(1, kafka)).toEqual({
      id: 1,
      host: 'k1',
      port: 9094,
      endpoints: [
        { listener: 'CLIENT', host: 'k1', port: 9094 },
        { listener: 'REPLICATION', host: 'k1', port: 9095 },
      ],
    });
    expect(() => decodeBroker(1, '{"host":"h","port":1,"endpoints":["nonsense"]}')).toThrow(
      /\/brokers\/ids\/1: endpoint "nonsense"/,
    );
  });

  it('a registration without endpoints (older Samsa) has one listener, PLAINTEXT', () => {
    const old = decodeBroker(3, '{"host":"h","port":9092,"version":1}');
    expect(endpointOn(old, 'PLAINTEXT')).toEqual({ listener: 'PLAINTEXT', host: 'h', port: 9092 });
    expect(endpointOn(old, 'INTERNAL')).toBeUndefined();
    expect(endpointOn(named, 'EXTERNAL')).toEqual({ listener: 'EXTERNAL', host: '127.0.0.1', port: 9093 });
  });
});

describe('Metadata by listener', () => {
  const brokers = new Map<number, BrokerEndpoint>([
    [
      1,
      {
        id: 1,
        host: 'broker-1',
        port: 19092,
        endpoints: [
          { listener: 'INTERNAL', host: 'broker-1', port: 19092 },
          { listener: 'EXTERNAL', host: '127.0.0.1', port: 9092 },
        ],
      },
    ],
    [2, { id: 2, host: 'broker-2', port: 19092, endpoints: [{ listener: 'INTERNAL', host: 'broker-2', port: 19092 }] }],
  ]);

  it('lists each broker at the address of the listener the request came on, leaving out brokers without it', () => {
    expect(brokersOn(brokers, 'EXTERNAL')).toEqual([{ id: 1, host: '127.0.0.1', port: 9092, rack: '' }]);
    expect(brokersOn(brokers, 'INTERNAL').map((b) => `${b.host}:${b.port}`)).toEqual([
      'broker-1:19092',
      'broker-2:19092',
    ]);
    expect(brokersOn(brokers, 'PLAINTEXT')).toEqual([]);
  });

  it('reports a leader unreachable on this listener as LeaderNotAvailable with no leader, as Kafka does', () => {
    const NO_MOVE = { stateZkVersion: 0, addingReplicas: [], removingReplicas: [] };
    const topic = {
      name: 't',
      configs: {},
      partitions: [
        { partition: 0, leader: 1, leaderEpoch: 3, replicas: [1, 2], isr: [1, 2], ...NO_MOVE },
        { partition: 1, leader: 2, leaderEpoch: 4, replicas: [2, 1], isr: [2, 1], ...NO_MOVE },
      ],
    } as unknown as Parameters<typeof describeTopic>[0];
    const external = describeTopic(topic, brokers, 'EXTERNAL');
    expect(external.partitions!.map((p) => [p.leader, p.errorCode])).toEqual([
      [1, 0],
      [-1, 5],
    ]);
    const internal = describeTopic(topic, brokers, 'INTERNAL');
    expect(internal.partitions!.map((p) => [p.leader, p.errorCode])).toEqual([
      [1, 0],
      [2, 0],
    ]);
  });
});
