/** The daemon's defaults, in a module of their own: `dnet daemon --help` prints them without loading the daemon. */
export const DEFAULT_RUN_DIR = '/run/dnet';
export const DEFAULT_DATA_DIR = '/var/lib/dnet';
/** Read at start when it exists (`dnet daemon --config-file` names another one). */
export const DEFAULT_CONFIG_FILE = '/etc/dnet/daemon.json';
/** The group of the unix sockets (Docker's `--group`; the daemon's own when it does not exist). */
export const DEFAULT_SOCKET_GROUP = 'dnet';
/** Where dockerd discovers dnet as its network and IPAM plugin `dnet`. */
export const DEFAULT_PLUGIN_SOCKET = '/run/docker/plugins/dnet.sock';
