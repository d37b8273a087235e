/*
 * The kernel floor of one container attach: the same kernel work dnet does for a container,
 * with nothing around it. Compiled by the benchmark with the machine's cc:
 *
 *   cc -O2 -o floor floor.c -l:libnftables.so.1
 *
 * Usage: floor <netns dir> <bridge> <gateway IPv4> <nft table>
 * Then one command per line on stdin, one answer per line on stdout:
 *
 *   a <i> <container IPv4> <prefix len> <host port>...   attach container i, publishing each
 *                                                        host port to container port 80, 81, ...
 *   d <i> <host port>...                                  detach container i
 *
 * The answer is "ok <ns> <nft ns>" (the time of the work alone, CLOCK_MONOTONIC, and of its
 * libnftables call alone) or "err <why>".
 *
 * attach, in order (each netlink request waits for its acknowledgement, as dnet's do):
 *   1. namespace: create <netns dir>/f<i>, unshare(CLONE_NEWNET), bind-mount
 *      /proc/thread-self/ns/net onto it, open the namespace and a NETLINK_ROUTE socket inside
 *      it, setns() back to the host namespace (no sysctl is written in it, as dnet writes none);
 *   2. loopback up (RTM_NEWLINK on ifindex 1, through the namespace's socket);
 *   3. one RTM_NEWLINK: a veth pair, host end "fv<i>" enslaved to the bridge, peer "eth0"
 *      (ifindex 2) created directly inside the namespace; then one RTM_NEWLINK bringing the host
 *      end up with IPv6 address generation off (IFLA_INET6_ADDR_GEN_MODE none: no link-local
 *      address, no DAD, no router solicitations), as dnet's bridge driver does;
 *   4. eth0 up with IPv6 address generation off (RTM_NEWLINK in the namespace, as dnet brings it
 *      up: no link-local address, so no DAD; a veth end cannot be created up);
 *   5. RTM_NEWADDR: the container's address on eth0;
 *   6. RTM_NEWROUTE: default route via the gateway;
 *   7. NAT: one libnftables call (native syntax, one transaction) adding, per published port,
 *      one element to an address map and one to a port map (`meta l4proto . th dport :
 *      ipv4_addr` and `: inet_service`), which a dnat rule looks up: the layout dnet uses for
 *      an exact port mapping. The masquerade rule is per network and exists already.
 * detach: one libnftables call deleting the elements; RTM_DELLINK of fv<i> (the pair goes);
 *   umount2(MNT_DETACH) and unlink of the namespace file.
 *
 * What dnet does beyond this floor is its own: state, IPAM, locks, hosts and resolv.conf files,
 * its mark on the host end (an alias, in the same request as up), the hairpin flag on the bridge
 * port, a rename of the peer (created with a temporary name) to eth0, and looking that peer up once.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* libnftables (from libnftables1; no -dev package needed for these three). */
struct nft_ctx;
extern struct nft_ctx *nft_ctx_new(uint32_t flags);
extern int nft_run_cmd_from_buffer(struct nft_ctx *nft, const char *buf);
extern void nft_ctx_free(struct nft_ctx *ctx);

static char err_text[70000];
#define FAIL(...) (snprintf(err_text, sizeof err_text, __VA_ARGS__), -1)

struct req {
  struct nlmsghdr *h;
  char buf[2048] __attribute__((aligned(NLMSG_ALIGNTO)));
  size_t len;
};

static uint32_t seq;

static void *put(struct req *r, size_t n) {
  void *p = r->buf + r->len;
  memset(p, 0, NLMSG_ALIGN(n));
  r->len += NLMSG_ALIGN(n);
  r->h->nlmsg_len = (uint32_t)r->len;
  return p;
}

static void begin(struct req *r, uint16_t type, uint16_t flags) {
  r->len = 0;
  r->h = (struct nlmsghdr *)r->buf;
  put(r, sizeof(struct nlmsghdr));
  r->h->nlmsg_type = type;
  r->h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  r->h->nlmsg_seq = ++seq;
}

static struct rtattr *attr(struct req *r, unsigned short type, const void *data, size_t n) {
  struct rtattr *a = put(r, RTA_LENGTH(n));
  a->rta_type = type;
  a->rta_len = (unsigned short)RTA_LENGTH(n);
  if (n) memcpy(RTA_DATA(a), data, n);
  return a;
}

static void nest_end(struct req *r, struct rtattr *a) {
  a->rta_len = (unsigned short)(r->buf + r->len - (char *)a);
}

/* Sends the request and waits for its acknowledgement; 0 or -1 with err_text set. */
static int talk(int fd, struct req *r, const char *what) {
  if (send(fd, r->buf, r->len, 0) < 0) return FAIL("%s: send: %s", what, strerror(errno));
  char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FAIL("%s: recv: %s", what, strerror(errno));
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != r->h->nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = NLMSG_DATA(h);
        if (e->error == 0) return 0;
        return FAIL("%s: %s", what, strerror(-e->error));
      }
    }
  }
}

static int nl_socket(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -1;
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static const char *nsdir, *bridge, *table;
static struct in_addr gateway;
static int host_ns = -1, host_nl = -1, bridge_index;
static struct nft_ctx *nft;
static int64_t nft_ns; /* the last command's libnftables time */
static int ipv6; /* the kernel has IPv6 (/proc/sys/net/ipv6 exists) */


/* Brings a link up (by index, or by name when index is 0); with no_ll, in the same request,
 * IPv6 address generation off (IFLA_INET6_ADDR_GEN_MODE none: no link-local address, so no DAD
 * and no router solicitations). */
static int link_up(int fd, int index, const char *name, int no_ll, const char *what) {
  struct req r;
  begin(&r, RTM_NEWLINK, 0);
  struct ifinfomsg *ifi = put(&r, sizeof *ifi);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  if (name) attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
  if (no_ll) {
    struct rtattr *spec = attr(&r, IFLA_AF_SPEC, NULL, 0);
    struct rtattr *in6 = attr(&r, AF_INET6, NULL, 0);
    unsigned char mode = IN6_ADDR_GEN_MODE_NONE;
    attr(&r, IFLA_INET6_ADDR_GEN_MODE, &mode, 1);
    nest_end(&r, in6);
    nest_end(&r, spec);
  }
  return talk(fd, &r, what);
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* One libnftables call (one transaction): each port is one element in the address map and one
 * in the port map, as dnet publishes an exact port mapping. */
static int nft_ports(int add, struct in_addr ip, char **ports, int nports) {
  static char cmd[65536];
  const char *verb = add ? "add" : "delete";
  size_t off = 0;
  for (int m = 0; m < 2; m++) {
    off += (size_t)snprintf(cmd + off, sizeof cmd - off, "%s element ip %s %s { ", verb, table, m ? "fport" : "faddr");
    for (int k = 0; k < nports && off < sizeof cmd - 256; k++) {
      off += (size_t)snprintf(cmd + off, sizeof cmd - off, "%stcp . %s", k ? ", " : "", ports[k]);
      if (add && m == 0) off += (size_t)snprintf(cmd + off, sizeof cmd - off, " : %s", inet_ntoa(ip));
      if (add && m == 1) off += (size_t)snprintf(cmd + off, sizeof cmd - off, " : %d", 80 + k);
    }
    off += (size_t)snprintf(cmd + off, sizeof cmd - off, " }\n");
  }
  int64_t t0 = now_ns();
  int rc = nft_run_cmd_from_buffer(nft, cmd);
  nft_ns = now_ns() - t0;
  if (rc != 0) return FAIL("nft: %s failed", cmd);
  return 0;
}

static int attach(int i, const char *ip_text, int prefix, char **ports, int nports) {
  char path[4096], name[IFNAMSIZ];
  struct in_addr ip;
  if (inet_pton(AF_INET, ip_text, &ip) != 1) return FAIL("bad address %s", ip_text);
  snprintf(path, sizeof path, "%s/f%d", nsdir, i);
  snprintf(name, sizeof name, "fv%d", i);

  /* 1. the namespace */
  int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) return FAIL("create %s: %s", path, strerror(errno));
  close(fd);
  if (unshare(CLONE_NEWNET) < 0) return FAIL("unshare: %s", strerror(errno));
  int ns = -1, ns_nl = -1, rc = 0;
  if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0)
    rc = FAIL("bind mount: %s", strerror(errno));
  if (rc == 0 && (ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
    rc = FAIL("open netns: %s", strerror(errno));
  if (rc == 0 && (ns_nl = nl_socket()) < 0) rc = FAIL("netlink socket in netns: %s", strerror(errno));
  if (setns(host_ns, CLONE_NEWNET) < 0) {
    fprintf(stderr, "floor: cannot switch back to the host namespace: %s\n", strerror(errno));
    abort();
  }
  /* 2. loopback up */
  if (rc == 0) rc = link_up(ns_nl, 1, NULL, 0, "loopback up");

  /* 3. the veth pair, peer created inside the namespace as eth0 (ifindex 2) */
  if (rc == 0) {
    struct req r;
    begin(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    struct ifinfomsg *ifi = put(&r, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
    attr(&r, IFLA_MASTER, &bridge_index, sizeof bridge_index);
    struct rtattr *li = attr(&r, IFLA_LINKINFO, NULL, 0);
    attr(&r, IFLA_INFO_KIND, "veth", 4);
    struct rtattr *data = attr(&r, IFLA_INFO_DATA, NULL, 0);
    struct rtattr *peer = attr(&r, VETH_INFO_PEER, NULL, 0);
    struct ifinfomsg *pi = put(&r, sizeof *pi);
    pi->ifi_family = AF_UNSPEC;
    pi->ifi_index = 2;
    attr(&r, IFLA_IFNAME, "eth0", 5);
    attr(&r, IFLA_NET_NS_FD, &ns, sizeof ns);
    nest_end(&r, peer);
    nest_end(&r, data);
    nest_end(&r, li);
    rc = talk(host_nl, &r, "veth add");
  }
  /* 3b. the host end up, without IPv6 address generation (as dnet's driver brings it up) */
  if (rc == 0) rc = link_up(host_nl, 0, name, ipv6, "host end up");
  /* 4. eth0 up without IPv6 address generation, as dnet brings it up (a veth end cannot be
   *    created up: its peer is not linked yet, ENOTCONN) */
  if (rc == 0) rc = link_up(ns_nl, 2, NULL, ipv6, "eth0 up");
  /* 5. the address */
  if (rc == 0) {
    struct req r;
    begin(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    struct ifaddrmsg *ifa = put(&r, sizeof *ifa);
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_index = 2;
    attr(&r, IFA_LOCAL, &ip, 4);
    attr(&r, IFA_ADDRESS, &ip, 4);
    rc = talk(ns_nl, &r, "address add");
  }
  /* 6. the default route */
  if (rc == 0) {
    struct req r;
    begin(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
    struct rtmsg *rt = put(&r, sizeof *rt);
    rt->rtm_family = AF_INET;
    rt->rtm_table = RT_TABLE_MAIN;
    rt->rtm_protocol = RTPROT_BOOT;
    rt->rtm_scope = RT_SCOPE_UNIVERSE;
    rt->rtm_type = RTN_UNICAST;
    int oif = 2;
    attr(&r, RTA_GATEWAY, &gateway, 4);
    attr(&r, RTA_OIF, &oif, sizeof oif);
    rc = talk(ns_nl, &r, "route add");
  }
  /* 7. the published ports */
  if (rc == 0 && nports > 0) rc = nft_ports(1, ip, ports, nports);
  if (ns_nl >= 0) close(ns_nl);
  if (ns >= 0) close(ns);
  return rc;
}

static int detach(int i, char **ports, int nports) {
  char path[4096], name[IFNAMSIZ];
  snprintf(path, sizeof path, "%s/f%d", nsdir, i);
  snprintf(name, sizeof name, "fv%d", i);
  struct in_addr none = {0};
  if (nports > 0 && nft_ports(0, none, ports, nports) < 0) return -1;
  struct req r;
  begin(&r, RTM_DELLINK, 0);
  struct ifinfomsg *ifi = put(&r, sizeof *ifi);
  ifi->ifi_family = AF_UNSPEC;
  attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
  if (talk(host_nl, &r, "veth del") < 0) return -1;
  if (umount2(path, MNT_DETACH) < 0) return FAIL("umount %s: %s", path, strerror(errno));
  if (unlink(path) < 0) return FAIL("unlink %s: %s", path, strerror(errno));
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: floor <netns dir> <bridge> <gateway> <nft table>\n");
    return 2;
  }
  nsdir = argv[1];
  bridge = argv[2];
  table = argv[4];
  if (inet_pton(AF_INET, argv[3], &gateway) != 1) return fprintf(stderr, "floor: bad gateway\n"), 2;
  bridge_index = (int)if_nametoindex(bridge);
  if (bridge_index == 0) return fprintf(stderr, "floor: no bridge %s\n", bridge), 2;
  host_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  ipv6 = access("/proc/sys/net/ipv6", F_OK) == 0;
  host_nl = nl_socket();
  nft = nft_ctx_new(0);
  if (host_ns < 0 || host_nl < 0 || !nft) return fprintf(stderr, "floor: set-up failed\n"), 1;
  setvbuf(stdout, NULL, _IOLBF, 0);

  char line[16384];
  while (fgets(line, sizeof line, stdin)) {
    char *args[1100];
    int n = 0;
    for (char *tok = strtok(line, " \t\n"); tok && n < 1100; tok = strtok(NULL, " \t\n")) args[n++] = tok;
    if (n == 0) continue;
    int64_t t0 = now_ns();
    int rc;
    nft_ns = 0;
    if (args[0][0] == 'a' && n >= 4) rc = attach(atoi(args[1]), args[2], atoi(args[3]), args + 4, n - 4);
    else if (args[0][0] == 'd' && n >= 2) rc = detach(atoi(args[1]), args + 2, n - 2);
    else rc = FAIL("unknown command %s", args[0]);
    int64_t t1 = now_ns();
    if (rc == 0) printf("ok %lld %lld\n", (long long)(t1 - t0), (long long)nft_ns);
    else printf("err %s\n", err_text);
  }
  nft_ctx_free(nft);
  return 0;
}
