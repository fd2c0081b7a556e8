/**
 * Conformance differences of the embedded coordinator that are known and reported, by case name.
 *
 * For a listed case, the embedded run and the transcript comparison are expected to FAIL (vitest
 * `test.fails`), and a warning lists them. When the coordinator is fixed, those tests start failing
 * ("expected to fail but passed"): remove the entry then. SAMSA_CONFORMANCE_STRICT=1 ignores this list.
 * ZooKeeper's own run is always strict.
 */
export const KNOWN_DIFFERENCES: Readonly<Record<string, string>> = {
  'create mode flags beyond the four classic ones (container, TTL, invalid) through create (op 1)':
    'create with TTL flags 5 and 6: the coordinator answers BAD_ARGUMENTS (-8), ZooKeeper 3.8 UNIMPLEMENTED (-6) (TTL nodes are an extended type, off by default)',
  'permissions: READ guards getData/getChildren, not exists; DELETE on the parent guards delete':
    'getACL on a node whose ACL grants neither READ nor ADMIN: the coordinator answers OK with the ACL, ZooKeeper 3.8 NO_AUTH (-102)',
};
