/*
 * dnet-cni: the CNI plugin of type "dnet", as a launcher that starts in about a millisecond.
 * `dnet cni install --bin-dir DIR` puts it in DIR as `dnet` (make build compiles it into
 * dist/cni/launcher/; install compiles it with the system cc when that is missing or stale),
 * linked statically where the C library allows it: no dynamic loader runs at each exec.
 * One file on purpose (a little over 400 lines): `dnet cni install` compiles it with `cc` alone,
 * no build system, from the installed package.
 *
 * It holds no CNI logic. It reads the network config on stdin and the CNI_* environment, sends
 * them in one HTTP/1.1 request (POST /cni) over the daemon's unix socket, prints the body of the
 * answer on stdout and exits with the code in its Dnet-Cni-Exit header. The daemon parses the
 * config, runs the verb against its attachments and converts the result (src/cni-spec/verbs.ts).
 *
 * What it decides itself:
 *   - the socket: the config's top-level "host" ("unix:///path"; default /run/dnet/dnet.sock),
 *     found by a small scan of the top level of the JSON object. Anything it cannot read
 *     (escapes, malformed JSON) leaves the default: the daemon then reports the config error.
 *   - a tcp:// host (TLS): exec of the Node plugin installed beside it (DIR/dnet-node), with the
 *     same environment and stdin (a memfd).
 *   - VERSION, and a missing CNI_COMMAND (code 4): answered here, no daemon needed.
 *   - the daemon cannot be reached: the spec's error JSON, code 11 (try again later) for ADD,
 *     DEL, CHECK and GC, as the Node plugin answers; 50 for STATUS.
 * No child process, no shell: one connect, one write, one read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/dnet/dnet.sock"
#define NODE_PLUGIN "dnet-node"
#define MAX_BYTES (16u << 20)  /* the config on stdin, and the daemon's answer */
#define LATEST_VERSION "1.1.0"

/* The versions dnet speaks: src/cni-spec/versions.ts SUPPORTED_VERSIONS (a test compares them). */
static const char *const VERSIONS[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};
#define N_VERSIONS (sizeof VERSIONS / sizeof VERSIONS[0])

/* The CNI protocol's environment (SPEC.md section 2): only these are sent. */
static const char *const CNI_VARS[] = {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS",
                                       "CNI_IFNAME",  "CNI_ARGS",        "CNI_PATH"};

struct buf {
  char *p;
  size_t len, cap;
};

static void out_of_memory(void) {
  fputs("dnet CNI plugin: out of memory\n", stderr);
  exit(1);
}

static void put(struct buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) out_of_memory();
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* s as a JSON string, quotes included. Bytes >= 0x80 pass as they are (UTF-8). */
static void put_json(struct buf *b, const char *s, size_t n) {
  put(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      put(b, e, 2);
    } else if (c < 0x20) {
      char e[8];
      snprintf(e, sizeof e, "\\u%04x", c);
      put(b, e, 6);
    } else {
      put(b, (const char *)&s[i], 1);
    }
  }
  put(b, "\"", 1);
}

/* Reads fd to its end (at most MAX_BYTES bytes). 0 on success. */
static int read_all(int fd, struct buf *b) {
  char chunk[65536];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n == 0) return 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (b->len + (size_t)n > MAX_BYTES) {
      errno = EFBIG;
      return -1;
    }
    put(b, chunk, (size_t)n);
  }
}

static int write_all(int fd, const char *p, size_t n, int sock) {
  while (n > 0) {
    ssize_t w = sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* ---- the top-level scan of the config: "host" and "cniVersion", nothing else ---- */

static const char *ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

/* p at '"': past the closing quote, or NULL. *escaped says whether a backslash was inside. */
static const char *skip_string(const char *p, const char *end, int *escaped) {
  *escaped = 0;
  for (p++; p < end; p++) {
    if (*p == '\\') {
      *escaped = 1;
      if (++p >= end) return NULL;
    } else if (*p == '"') {
      return p + 1;
    } else if ((unsigned char)*p < 0x20) {
      return NULL;
    }
  }
  return NULL;
}

/* Past one value (string, number, literal, or a nested object or array), or NULL. */
static const char *skip_value(const char *p, const char *end) {
  int esc;
  if (p >= end) return NULL;
  if (*p == '"') return skip_string(p, end, &esc);
  if (*p == '{' || *p == '[') {
    long depth = 0;
    while (p < end) {
      if (*p == '"') {
        if (!(p = skip_string(p, end, &esc))) return NULL;
        continue;
      }
      if (*p == '{' || *p == '[') depth++;
      else if (*p == '}' || *p == ']') {
        if (--depth == 0) return p + 1;
      }
      p++;
    }
    return NULL;
  }
  const char *start = p;
  while (p < end && !strchr(",}] \t\r\n", *p)) p++;
  return p > start ? p : NULL;
}

struct scanned {
  char *host;      /* NULL: not given, or not readable here */
  char *version;   /* NULL likewise */
};

static int key_is(const char *k, size_t n, const char *want) {
  return n == strlen(want) && memcmp(k, want, n) == 0;
}

/* The top-level "host" and "cniVersion" strings of the object in s; on anything unreadable, none. */
static struct scanned scan_config(const char *s, size_t n) {
  struct scanned out = {NULL, NULL};
  const char *end = s + n, *p = ws(s, end);
  int esc;
  if (p >= end || *p++ != '{') return out;
  p = ws(p, end);
  if (p < end && *p == '}') return out;
  while (p < end) {
    if (*p != '"') goto fail;
    const char *key = p + 1, *q = skip_string(p, end, &esc);
    if (!q) goto fail;
    size_t klen = (size_t)(q - 1 - key);
    int key_escaped = esc;
    p = ws(q, end);
    if (p >= end || *p++ != ':') goto fail;
    p = ws(p, end);
    char **slot = NULL;
    if (!key_escaped && key_is(key, klen, "host")) slot = &out.host;
    if (!key_escaped && key_is(key, klen, "cniVersion")) slot = &out.version;
    const char *v = p;
    if (!(p = skip_value(p, end))) goto fail;
    if (slot) {
      free(*slot);
      *slot = NULL;
      /* A plain string only; one with escapes is left to the daemon (the default socket). */
      if (*v == '"' && (skip_string(v, end, &esc), !esc)) *slot = strndup(v + 1, (size_t)(p - v - 2));
    }
    p = ws(p, end);
    if (p < end && *p == ',') {
      p = ws(p + 1, end);
      continue;
    }
    if (p < end && *p == '}') return out;
    goto fail;
  }
fail:
  free(out.host);
  free(out.version);
  out.host = out.version = NULL;
  return out;
}

/* ---- answers given here ---- */

static const char *error_version;  /* the config's cniVersion when dnet speaks it, else the latest */

static int supported(const char *v) {
  for (size_t i = 0; v && i < N_VERSIONS; i++)
    if (strcmp(v, VERSIONS[i]) == 0) return 1;
  return 0;
}

/* The spec's error result on stdout; exit status 1. */
static int cni_error(int code, const char *msg, const char *details) {
  struct buf b = {0};
  puts_(&b, "{\"cniVersion\":");
  put_json(&b, error_version, strlen(error_version));
  char c[32];
  snprintf(c, sizeof c, ",\"code\":%d,\"msg\":", code);
  puts_(&b, c);
  put_json(&b, msg, strlen(msg));
  if (details && *details) {
    puts_(&b, ",\"details\":");
    put_json(&b, details, strlen(details));
  }
  puts_(&b, "}\n");
  write_all(1, b.p, b.len, 0);
  return 1;
}

static int version_answer(void) {
  struct buf b = {0};
  puts_(&b, "{\"cniVersion\":");
  put_json(&b, error_version, strlen(error_version));
  puts_(&b, ",\"supportedVersions\":[");
  for (size_t i = 0; i < N_VERSIONS; i++) {
    if (i) puts_(&b, ",");
    put_json(&b, VERSIONS[i], strlen(VERSIONS[i]));
  }
  puts_(&b, "]}\n");
  return write_all(1, b.p, b.len, 0) == 0 ? 0 : 1;
}

/* ---- tcp:// hosts: the Node plugin beside this executable ---- */

static int exec_node_plugin(char **argv, const struct buf *in) {
  char self[PATH_MAX], msg[PATH_MAX + 128];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return cni_error(5, "cannot find the dnet plugin's own directory", strerror(errno));
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  if (!slash || (size_t)(slash - self) + sizeof NODE_PLUGIN + 2 > sizeof self)
    return cni_error(5, "cannot find the dnet plugin's own directory", self);
  strcpy(slash + 1, NODE_PLUGIN);
  int fd = memfd_create("dnet-cni-stdin", 0);
  if (fd < 0 || write_all(fd, in->p ? in->p : "", in->len, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0 ||
      dup2(fd, 0) < 0)
    return cni_error(5, "cannot hand the config to the Node plugin", strerror(errno));
  close(fd);
  argv[0] = self;
  execv(self, argv);
  snprintf(msg, sizeof msg, "a tcp:// host needs the Node plugin %s (dnet cni install writes it)", self);
  return cni_error(5, msg, strerror(errno));
}

/* ---- the request ---- */

static int connect_unix(const char *path, int timeout_s) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct timeval tv = {.tv_sec = timeout_s};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* The header's value in the head (lines after the status line), or NULL. */
static const char *header(const char *head, const char *name, size_t *len) {
  size_t nlen = strlen(name);
  for (const char *l = strstr(head, "\r\n"); l; l = strstr(l, "\r\n")) {
    l += 2;
    if (strncasecmp(l, name, nlen) == 0 && l[nlen] == ':') {
      const char *v = l + nlen + 1;
      while (*v == ' ' || *v == '\t') v++;
      const char *e = strstr(v, "\r\n");
      *len = e ? (size_t)(e - v) : strlen(v);
      return v;
    }
  }
  return NULL;
}

/* The daemon's answer: its body on stdout, its exit code; or the error result for a refusal. */
static int relay(struct buf *r) {
  char *sep = r->p ? strstr(r->p, "\r\n\r\n") : NULL;
  if (!sep || strncmp(r->p, "HTTP/1.", 7) != 0 || r->len < 12)
    return cni_error(100, "the dnet daemon sent no HTTP answer to POST /cni", r->p ? r->p : "");
  *sep = '\0';
  char *body = sep + 4;
  size_t blen = r->len - (size_t)(body - r->p), vlen;
  const char *cl = header(r->p, "Content-Length", &vlen);
  if (cl) {
    size_t want = strtoul(cl, NULL, 10);
    if (want < blen) blen = want;
  }
  int status = atoi(r->p + 9);
  const char *exit_v = header(r->p, "Dnet-Cni-Exit", &vlen);
  if (status != 200 || !exit_v) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "the dnet daemon refused the CNI request (HTTP %d): is it older than this plugin? "
             "Run dnet cni install again with the daemon's version",
             status);
    body[blen] = '\0';
    return cni_error(100, msg, body);
  }
  if (blen > 0 && (write_all(1, body, blen, 0) != 0 || write_all(1, "\n", 1, 0) != 0)) return 1;
  int code = atoi(exit_v);
  return code < 0 || code > 255 ? 1 : code;
}

int main(int argc, char **argv) {
  (void)argc;
  struct buf in = {0};
  if (!isatty(0) && read_all(0, &in) != 0) {
    error_version = LATEST_VERSION;
    return cni_error(5, "cannot read the network config from stdin", strerror(errno));
  }
  struct scanned cfg = scan_config(in.p ? in.p : "", in.len);
  error_version = supported(cfg.version) ? cfg.version : LATEST_VERSION;

  const char *cmd = getenv("CNI_COMMAND");
  if (!cmd || !*cmd) {
    fputs("CNI plugin dnet (a launcher; the dnet daemon does the work)\n", stderr);
    return cni_error(4, "required env variables [CNI_COMMAND] missing", NULL);
  }
  if (strcmp(cmd, "VERSION") == 0) return version_answer();

  const char *sock = DEFAULT_SOCKET;
  if (cfg.host && strncmp(cfg.host, "tcp://", 6) == 0) return exec_node_plugin(argv, &in);
  if (cfg.host && strncmp(cfg.host, "unix:///", 8) == 0) sock = cfg.host + 7;
  /* Any other host: the default socket; the daemon reports the config's error (code 7). */

  int is_status = strcmp(cmd, "STATUS") == 0;
  int fd = connect_unix(sock, is_status ? 5 : 120);
  if (fd < 0) {
    char msg[sizeof(struct sockaddr_un) + 96], det[128];
    snprintf(msg, sizeof msg, "the dnet daemon cannot be reached at unix://%s", sock);
    snprintf(det, sizeof det, "connect: %s", strerror(errno));
    return cni_error(is_status ? 50 : 11, msg, det);
  }

  struct buf body = {0}, req = {0};
  puts_(&body, "{\"Env\":{");
  int first = 1;
  for (size_t i = 0; i < sizeof CNI_VARS / sizeof CNI_VARS[0]; i++) {
    const char *v = getenv(CNI_VARS[i]);
    if (!v) continue;
    if (!first) puts_(&body, ",");
    first = 0;
    put_json(&body, CNI_VARS[i], strlen(CNI_VARS[i]));
    puts_(&body, ":");
    put_json(&body, v, strlen(v));
  }
  puts_(&body, "},\"Config\":");
  put_json(&body, in.p ? in.p : "", in.len);
  puts_(&body, "}");
  char head[256];
  snprintf(head, sizeof head,
           "POST /cni HTTP/1.1\r\nHost: dnet\r\nUser-Agent: dnet-cni\r\n"
           "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
           body.len);
  puts_(&req, head);
  put(&req, body.p, body.len);

  struct buf resp = {0};
  if (write_all(fd, req.p, req.len, 1) != 0 || read_all(fd, &resp) != 0) {
    char msg[sizeof(struct sockaddr_un) + 96], det[128];
    snprintf(msg, sizeof msg, "the dnet daemon at unix://%s did not answer", sock);
    snprintf(det, sizeof det, "%s", errno == EAGAIN ? "no answer in time" : strerror(errno));
    return cni_error(is_status ? 50 : 11, msg, det);
  }
  close(fd);
  return relay(&resp);
}
