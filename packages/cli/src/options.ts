import { InvalidArgumentError } from 'commander';

/** A commander argument parser for an integer option within [min, max]. */
export function parseIntOption(flag: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max}`);
    }
    return n;
  };
}
