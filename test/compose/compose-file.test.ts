/**
 * docker-compose.yml, the Dockerfile and .dockerignore checked without Docker (most machines running
 * the suite have no engine, and compose.test.ts is skipped there): what Compose would refuse (a
 * dependency on a service the active profile leaves out, unless `required: false`), what a broker
 * would refuse (its listener settings, read exactly as the container reads them, from SAMSA_*
 * variables), names that would not resolve, EXTERNAL ports that do not match their published ports,
 * and the healthcheck commands, run here against a real coordinator and a listening port.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// `yaml` is installed with testcontainers (through docker-compose); not a direct dependency yet.
import { parse } from 'yaml';
import { listenerConfig, loadBrokerSettings } from '@samsa/broker/internal';
import { REPO_ROOT, startEmbeddedCoordinator, type EmbeddedCoordinator } from '../helpers/coordinator.js';

interface Service {
  image?: string;
  build?: string;
  profiles?: string[];
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string; required?: boolean }>;
  ports?: string[];
  volumes?: string[];
  networks?: Record<string, { aliases?: string[] } | null>;
  healthcheck?: { test: string[] };
}

const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const PROFILES = ['zookeeper', 'embedded'];
const brokers = Object.keys(services).filter((name) => name.startsWith('broker-'));
const enabledIn = (profile: string) =>
  Object.keys(services).filter((name) => services[name]!.profiles?.includes(profile));
/** Names a container on the Compose network resolves in a profile: services and their aliases. */
const resolvableIn = (profile: string) =>
  new Set(
    enabledIn(profile).flatMap((name) => [
      name,
      ...Object.values(services[name]!.networks ?? {}).flatMap((n) => n?.aliases ?? []),
    ]),
  );

describe('docker-compose.yml', () => {
  it('puts every service in a profile, the brokers in both, so each mode is one command', () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.profiles, name).toBeDefined();
      expect(
        service.profiles!.every((p) => PROFILES.includes(p)),
        name,
      ).toBe(true);
    }
    expect(brokers).toEqual(['broker-1', 'broker-2', 'broker-3']);
    for (const name of brokers) expect(services[name]!.profiles).toEqual(PROFILES);
    expect(enabledIn('zookeeper').sort()).toEqual(['broker-1', 'broker-2', 'broker-3', 'zk-1', 'zk-2', 'zk-3']);
    expect(enabledIn('embedded').sort()).toEqual(['broker-1', 'broker-2', 'broker-3', 'coordinator']);
  });

  it.each(PROFILES)(
    'profile %s: no dependency Compose would refuse, and brokers wait for a healthy coordinator',
    (profile) => {
      const enabled = new Set(enabledIn(profile));
      for (const name of enabled) {
        for (const [dependency, how] of Object.entries(services[name]!.depends_on ?? {})) {
          expect(services[dependency], `${name} depends on ${dependency}`).toBeDefined();
          // Compose rejects a dependency on a service the profile left out unless it is not required.
          if (!enabled.has(dependency)) expect(how.required, `${name} -> ${dependency}`).toBe(false);
        }
      }
      for (const name of brokers) {
        const waitedFor = Object.entries(services[name]!.depends_on ?? {}).filter(
          ([d, how]) => enabled.has(d) && how.condition === 'service_healthy',
        );
        expect(waitedFor.map(([d]) => d).sort()).toEqual(
          enabledIn(profile)
            .filter((s) => !s.startsWith('broker-'))
            .sort(),
        );
      }
    },
  );

  it('gives the ZooKeeper servers a consistent ensemble and the 4lw commands their healthcheck uses', () => {
    const zks = Object.keys(services).filter((name) => name.startsWith('zk-'));
    for (const name of zks) {
      const service = services[name]!;
      const id = name.slice('zk-'.length);
      expect(service.image).toBe('zookeeper:3.8');
      expect(service.environment!.ZOO_MY_ID).toBe(id);
      expect(service.environment!.ZOO_SERVERS!.split(' ')).toEqual(
        zks.map((z) => `server.${z.slice(3)}=${z}:2888:3888;2181`),
      );
      expect(service.environment!.ZOO_4LW_COMMANDS_WHITELIST!.split(',')).toContain('srvr');
      expect(service.healthcheck!.test.join(' ')).toContain('echo srvr | nc');
      expect(service.volumes).toEqual([`${name}-data:/data`, `${name}-datalog:/datalog`]);
    }
  });

  it.each(brokers)(
    '%s: listener settings the broker accepts, EXTERNAL and KAFKA on published ports, INTERNAL by service name',
    async (name) => {
      const service = services[name]!;
      expect(service.build).toBe('.');
      expect(service.command).toEqual(['broker', 'start']);
      // Exactly as the container reads them: SAMSA_* variables.
      const settings = await loadBrokerSettings({ env: service.environment! });
      const id = Number(name.slice('broker-'.length));
      expect(settings['broker.id']).toBe(id);
      expect(settings['log.dirs']).toBe('/data');
      const listeners = listenerConfig(settings);
      expect(listeners.interBrokerListenerName).toBe('INTERNAL');
      const external = listeners.advertised.find((l) => l.listener === 'EXTERNAL')!;
      const internal = listeners.advertised.find((l) => l.listener === 'INTERNAL')!;
      expect(external).toEqual({ listener: 'EXTERNAL', host: '127.0.0.1', port: 9091 + id });
      expect(listeners.listeners.find((l) => l.listener === 'EXTERNAL')).toEqual({
        listener: 'EXTERNAL',
        host: '0.0.0.0',
        port: external.port,
      });
      // Kafka clients on the host: Kafka's protocol on the gRPC port + 10000, as `samsa dev` opens it.
      const kafka = listeners.advertised.find((l) => l.listener === 'KAFKA')!;
      expect(kafka).toEqual({ listener: 'KAFKA', host: '127.0.0.1', port: external.port + 10_000 });
      expect(listeners.listeners.find((l) => l.listener === 'KAFKA')).toEqual({
        listener: 'KAFKA',
        host: '0.0.0.0',
        port: kafka.port,
      });
      expect(listeners.protocols.get('KAFKA')).toBe('PLAINTEXT');
      expect(listeners.protocols.get('EXTERNAL')).toBe('GRPC');
      expect(service.ports).toEqual([`${external.port}:${external.port}`, `${kafka.port}:${kafka.port}`]);
      expect(internal).toEqual({ listener: 'INTERNAL', host: name, port: 29092 });
      expect(service.healthcheck!.test.join(' ')).toContain(`connect(${external.port},'127.0.0.1')`);
      expect(service.volumes).toEqual([`${name}-data:/data`]);
      for (const profile of PROFILES) {
        const resolvable = resolvableIn(profile);
        for (const member of String(settings['zookeeper.connect']).split(',')) {
          expect(resolvable.has(member.split(':')[0]!), `${member} in profile ${profile}`).toBe(true);
        }
        expect(resolvable.has(internal.host)).toBe(true);
      }
    },
  );

  it('declares every named volume it mounts', () => {
    const mounted = Object.values(services).flatMap((s) => (s.volumes ?? []).map((v) => v.split(':')[0]!));
    expect(Object.keys(compose.volumes).sort()).toEqual([...new Set(mounted)].sort());
  });

  describe('healthcheck commands', () => {
    let coordinator: EmbeddedCoordinator;
    beforeAll(async () => {
      coordinator = await startEmbeddedCoordinator();
    });
    afterAll(async () => {
      await coordinator?.stop();
    });

    /** Runs a healthcheck's `node -e` script with `port` in place of the service's port. */
    const run = (test: string[], fromPort: number, toPort: number) => {
      expect(test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
      const script = test[3]!.replaceAll(`connect(${fromPort},`, `connect(${toPort},`);
      return new Promise<number>((resolve) =>
        execFile(process.execPath, ['-e', script], { timeout: 10_000 }, (err) =>
          resolve(err ? ((err as { code?: number }).code ?? 1) : 0),
        ),
      );
    };

    it('the coordinator is healthy when it answers ruok with imok, and not when nothing listens', async () => {
      const test = services.coordinator!.healthcheck!.test;
      expect(await run(test, 2181, coordinator.port)).toBe(0);
      const closed = await new Promise<number>((resolve) => {
        const server = createServer().listen(0, '127.0.0.1', () => {
          const port = (server.address() as { port: number }).port;
          server.close(() => resolve(port));
        });
      });
      expect(await run(test, 2181, closed)).not.toBe(0);
    });

    it('a broker is healthy when its EXTERNAL port accepts connections', async () => {
      const server = createServer((socket) => socket.destroy());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      try {
        expect(await run(services['broker-1']!.healthcheck!.test, 9092, port)).toBe(0);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
      expect(await run(services['broker-1']!.healthcheck!.test, 9092, port)).not.toBe(0);
    });
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  it('copies every workspace manifest before npm ci, and proto/ to where the protocol package loads it', () => {
    const workspaces = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { workspaces: string[] })
      .workspaces;
    for (const w of workspaces) expect(dockerfile).toContain(`COPY ${w}/package.json ${w}/`);
    expect(dockerfile.indexOf('COPY packages/cli/package.json')).toBeLessThan(dockerfile.indexOf('RUN npm ci'));
    // packages/protocol/dist/grpc/load.js resolves ../../../../proto/ from /app/packages/protocol/dist/grpc/.
    expect(dockerfile).toMatch(/^WORKDIR \/app$/m);
    expect(dockerfile).toMatch(/^COPY proto proto$/m);
    expect(dockerfile).toContain('ENTRYPOINT ["node", "/app/packages/cli/dist/main.js"]');
  });

  it('.dockerignore keeps out builds and dependencies but nothing the build needs', () => {
    for (const needed of [
      'proto',
      'packages',
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.base.json',
    ]) {
      expect(ignored, needed).not.toContain(needed);
    }
    for (const excluded of ['**/node_modules', '**/dist', '**/*.tsbuildinfo']) expect(ignored).toContain(excluded);
  });
});
