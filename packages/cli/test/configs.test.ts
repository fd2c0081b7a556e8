import { describe, expect, it } from 'vitest';
import { parseAddConfig } from '../src/commands/configs.js';

describe('samsa configs --add-config', () => {
  it('splits on commas outside brackets, as kafka-configs.sh does, and unwraps a bracketed list value', () => {
    expect(parseAddConfig('retention.ms=1000, cleanup.policy=[compact,delete],segment.bytes=4096')).toEqual({
      'retention.ms': '1000',
      'cleanup.policy': 'compact,delete',
      'segment.bytes': '4096',
    });
    expect(parseAddConfig('a=x=y')).toEqual({ a: 'x=y' });
  });

  it('refuses a pair without a name or an equals sign (usage error, exit 2)', () => {
    expect(() => parseAddConfig('retention.ms')).toThrow(/KEY=VALUE/);
    expect(() => parseAddConfig('=1')).toThrow(/KEY=VALUE/);
  });
});
