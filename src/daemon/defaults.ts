/** The daemon's defaults, in a module of their own: `dnet daemon --help` prints them without loading the daemon. */
export const DEFAULT_RUN_DIR = '/run/dnet';
export const DEFAULT_DATA_DIR = '/var/lib/dnet';
/** Read at start when it exists (`dnet daemon --config-file` names another one). */
export const DEFAULT_CONFIG_FILE = '/etc/dnet/daemon.json';
