/** ACL rules as ZooKeeper applies them (pure): validation, the `auth` scheme, permission checks. */
import { createHash } from 'node:crypto';
import type { Acl, Id } from './jute.js';
import { ErrorCode, KeeperError } from './protocol.js';

/** The id a `digest` auth packet "user:password" authenticates as: user:base64(sha1(user:password)). */
export function digestId(userColonPassword: string): string {
  const user = userColonPassword.split(':')[0] ?? '';
  return `${user}:${createHash('sha1').update(userColonPassword).digest('base64')}`;
}

/** IPv4 as a 32-bit number, or null. */
function ipv4(addr: string): number | null {
  const parts = addr.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    n = n * 256 + Number(p);
  }
  return n;
}

/** ZooKeeper's IPAuthenticationProvider.isValid: an address with an optional /bits mask. */
export function validIpAcl(expr: string): boolean {
  const [addr = '', bits, ...rest] = expr.split('/');
  if (rest.length > 0) return false;
  const v4 = ipv4(addr) !== null;
  const v6 = !v4 && addr.includes(':') && /^[0-9a-fA-F:.]+$/.test(addr);
  if (!v4 && !v6) return false;
  if (bits === undefined) return true;
  return /^\d+$/.test(bits) && Number(bits) <= (v4 ? 32 : 128);
}

/** Whether a client address falls in an ip ACL's address/mask (IPv4 by prefix, IPv6 exactly). */
export function ipMatches(clientIp: string, expr: string): boolean {
  const [addr = '', bitsText] = expr.split('/');
  const client = ipv4(clientIp);
  const target = ipv4(addr);
  if (client === null || target === null) return clientIp === addr;
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  if (bits === 0) return true;
  const shift = 32 - bits;
  return Math.floor(client / 2 ** shift) === Math.floor(target / 2 ** shift);
}

/** Throws KeeperError(NOAUTH) unless one of the ACL entries granting `perm` matches one of `authIds`. */
export function checkAcl(acl: readonly Acl[], perm: number, authIds: readonly Id[]): void {
  if (acl.length === 0) return;
  for (const id of authIds) if (id.scheme === 'super') return;
  for (const a of acl) {
    if ((a.perms & perm) === 0) continue;
    if (a.id.scheme === 'world' && a.id.id === 'anyone') return;
    for (const id of authIds) {
      if (id.scheme !== a.id.scheme) continue;
      if (id.scheme === 'ip' ? ipMatches(id.id, a.id.id) : id.id === a.id.id) return;
    }
  }
  throw new KeeperError(ErrorCode.NOAUTH);
}

/** ZooKeeper's fixupACL: validates each entry and expands `auth` to the connection's digest ids. */
export function fixupAcl(acl: readonly Acl[], authIds: readonly Id[]): Acl[] {
  if (acl.length === 0) throw new KeeperError(ErrorCode.INVALIDACL);
  const out: Acl[] = [];
  for (const a of acl) {
    const { scheme, id } = a.id;
    if (scheme === 'world' && id === 'anyone') out.push(a);
    else if (scheme === 'auth') {
      const ids = authIds.filter((x) => x.scheme === 'digest');
      if (ids.length === 0) throw new KeeperError(ErrorCode.INVALIDACL);
      for (const x of ids) out.push({ perms: a.perms, id: { scheme: x.scheme, id: x.id } });
    } else if (scheme === 'digest' && id.includes(':')) out.push(a);
    else if (scheme === 'ip' && validIpAcl(id)) out.push(a);
    else throw new KeeperError(ErrorCode.INVALIDACL);
  }
  return out;
}
