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
  'getACL needs READ or ADMIN on the node':
    'getACL on a node whose ACL grants neither READ nor ADMIN (world:anyone WRITE only): the coordinator answers OK with the ACL, ZooKeeper 3.8 NO_AUTH (-102)',
  'mntr zk_znode_count is one more than the nodes reachable from / (as ZooKeeper counts)':
    "mntr zk_znode_count and srvr 'Node count' equal the number of nodes reachable from / on the coordinator; ZooKeeper 3.8 reports one more (a fresh ZooKeeper says 5 for /, /zookeeper, /zookeeper/quota, /zookeeper/config)",
  'four-letter words beyond the basic ones, in the formats tools parse':
    "cons, crst, dirs, dump, envi, srst, wchc, wchp, wchs answer 'is not executed because it is not in the whitelist' (ZooKeeper with 4lw.commands.whitelist=* answers them); conf lacks minSessionTimeout/maxSessionTimeout (and ZooKeeper's other keys)",
};
