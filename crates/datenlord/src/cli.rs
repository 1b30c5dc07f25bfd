//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use datenlord_store::cache::Policy;

#[derive(Debug, Parser)]
#[command(
    name = "datenlord",
    version,
    about = "DatenLord: a POSIX filesystem and an S3 gateway (and soon KV) over a metadata engine and a block store",
    after_help = "Start with `datenlord mount /mnt/dl`: it formats and mounts the default volume under \
                  $DATENLORD_HOME (default ~/.datenlord)."
)]
pub struct Cli {
    /// Log level or filter (error, warn, info, debug, trace, or a tracing filter).
    #[arg(long, global = true, default_value = "info", env = "DATENLORD_LOG")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Format(FormatArgs),
    Mount(MountArgs),
    #[command(alias = "unmount")]
    Umount(UmountArgs),
    Status(StatusArgs),
    Fsck(FsckArgs),
    Warmup(WarmupArgs),
    Bench(BenchArgs),
    CacheNode(CacheNodeArgs),
    Gateway(GatewayArgs),
    Quota(QuotaArgs),
    Clone(CloneArgs),
    Gc(GcArgs),
    InstallHelper(InstallHelperArgs),
    Dump(DumpArgs),
    Load(LoadArgs),
    Snapshot(SnapshotArgs),
    Trash(TrashArgs),
    Csi(CsiArgs),
    SchedulerExtender(ExtenderArgs),
}

/// Serve kube-scheduler's extender API: place pods near the cached data of their DatenLord
/// volumes.
#[derive(Debug, Args)]
#[command(after_help = "kube-scheduler calls it (an `extenders:` entry of its \
    KubeSchedulerConfiguration; the Helm chart has one) with each pod to place: POST /filter \
    drops nodes that cannot mount the pod's DatenLord volumes (with --node-selector, the \
    nodes without that label), POST /prioritize scores every candidate 0-10 — up to 8 for \
    the share of the pod's volumes its mounts hold in cache (relative to the best node), up \
    to 2 for carrying the pod's --label-prefix labels alike. Where data is cached comes from \
    the mounts' own heartbeats in the metadata, read every --refresh seconds in the \
    background: a call never waits for the metadata. GET /healthz answers ok.\n\n\
    Examples:\n  \
    datenlord scheduler-extender --listen 0.0.0.0:8100 --meta etcd://etcd-0.etcd:2379/k8s\n  \
    datenlord scheduler-extender --listen 127.0.0.1:8100 --node-selector datenlord.io/node=true \\\n      \
    --label-prefix datenlord.io/")]
pub struct ExtenderArgs {
    #[command(flatten)]
    pub meta: MetaArg,
    /// Where to listen for the scheduler, ADDR:PORT.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: String,
    /// Only nodes with this label (KEY=VALUE) run DatenLord's node plugin and can mount its
    /// volumes [default: every node can].
    #[arg(long, value_name = "KEY=VALUE")]
    pub node_selector: Option<String>,
    /// Pod labels under this prefix are matched to node labels: nodes labelled alike score
    /// higher [default: none].
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub label_prefix: String,
    /// Seconds between reads of where volumes are cached.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub refresh: f64,
}

/// Serve the Container Storage Interface for Kubernetes: volumes are directories of a
/// DatenLord volume with quotas, snapshots are metadata-only clones.
#[derive(Debug, Args)]
#[command(
    after_help = "Kubernetes runs it twice: once per cluster with --controller (beside \
    csi-provisioner, csi-snapshotter and csi-resizer), once per node with --node (beside \
    node-driver-registrar). Without --controller or --node it \
    serves both.\n\n\
    A CSI volume is the directory /csi/NAME of a DatenLord volume with a quota of its \
    capacity; its id is NAME. The DatenLord volume is the one the call's secrets name in \
    `metaurl` (a META_URL, password and all; never logged), else --meta. StorageClass \
    parameters: inodes (the quota's inode limit), and the mount options cache-policy, cache-size, \
    memory-cache-size, readahead, attr-timeout, entry-timeout, writeback-cache; all of them \
    can be changed later (ControllerModifyVolume). Deleting a volume moves it to the trash \
    of its DatenLord volume (`datenlord trash list`).\n\n\
    On a node, NodeStageVolume starts one `datenlord mount -d --subdir /csi/NAME` daemon per \
    volume at the staging path, with the volume's mount options; the daemons run in their \
    own process groups, so restarting or upgrading the node plugin leaves pods' mounts \
    serving, and a daemon that died is replaced at the next stage or publish. \
    NodePublishVolume bind-mounts the staged mount into the pod (read-only when asked); \
    NodeGetVolumeStats reports the quota as the size.\n\n\
    Examples:\n  \
    datenlord csi --endpoint unix:///csi/csi.sock --node-id $(hostname) --node\n  \
    datenlord csi --endpoint unix:///csi/csi.sock --node-id ctl --controller \\\n      \
    --meta etcd://etcd-0.etcd:2379/k8s"
)]
pub struct CsiArgs {
    #[command(flatten)]
    pub meta: MetaArg,
    /// Where to listen: unix:///PATH (the form the Kubernetes sidecars use) or a path.
    #[arg(long, value_name = "ENDPOINT", env = "CSI_ENDPOINT")]
    pub endpoint: String,
    /// This node's name (as Kubernetes knows it).
    #[arg(long, value_name = "NODE", env = "NODE_NAME")]
    pub node_id: String,
    /// Serve the Controller service.
    #[arg(long)]
    pub controller: bool,
    /// Serve the Node service.
    #[arg(long)]
    pub node: bool,
    /// A topology segment of this node, KEY=VALUE (repeatable), e.g.
    /// topology.kubernetes.io/zone=z1.
    #[arg(long = "topology", value_name = "KEY=VALUE")]
    pub topology: Vec<String>,
}

/// Where a volume's metadata lives.
#[derive(Debug, Clone, Args)]
pub struct MetaArg {
    /// Metadata engine URL: sqlite:///var/lib/datenlord/meta.db, or for many nodes
    /// etcd://host:port[,host:port...]/prefix, redis://[:password@]host:port[/db][?prefix=name]
    /// or postgres://user[:password]@host[:port]/database[?table=name]
    /// [default: sqlite://$DATENLORD_HOME/meta.db]
    #[arg(long, global = true, value_name = "META_URL", env = "DATENLORD_META")]
    pub meta: Option<String>,
}

/// Create a volume, or change the settings of an empty one.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    datenlord format myvol\n  \
    datenlord format --meta sqlite:///var/lib/dl/meta.db --storage file:///data/dl-blocks myvol\n  \
    datenlord format --meta 'redis://:secret@10.0.0.1:6379/1?prefix=vol' --storage s3://b/vol myvol\n  \
    datenlord format --block-size 1M --storage memory:// scratch\n  \
    datenlord format --trash-days 7 myvol                    # keep deleted files a week\n  \
    AWS_ACCESS_KEY_ID=K AWS_SECRET_ACCESS_KEY=S datenlord format \\\n      \
    --storage 's3://bucket/dl?endpoint=http://127.0.0.1:9000&region=us-east-1' s3vol")]
pub struct FormatArgs {
    #[command(flatten)]
    pub meta: MetaArg,
    /// Where blocks are stored: file:///DIR, memory://, or
    /// s3://BUCKET[/PREFIX]?endpoint=URL&region=R[&style=virtual] (keys from AWS_ACCESS_KEY_ID
    /// and AWS_SECRET_ACCESS_KEY or the AWS profile) [default: file://$DATENLORD_HOME/blocks]
    #[arg(long, value_name = "STORAGE_URL")]
    pub storage: Option<String>,
    /// Size of a block (64K to 16M, a power of two); fixed once data is written.
    #[arg(long, value_name = "SIZE", default_value = "4M")]
    pub block_size: String,
    /// Days a deleted or replaced file stays in the trash (/.trash, root only) before it is
    /// purged; 0 deletes at once [default: 1; an existing volume keeps its own]
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(0..=3650))]
    pub trash_days: Option<u32>,
    /// Change the settings of an existing volume.
    #[arg(long)]
    pub force: bool,
    /// The volume's name.
    pub name: String,
}

/// Mount a volume (the default one, formatted on first use, unless --meta is given).
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:\n  \
    datenlord mount /mnt/dl\n  \
    datenlord mount -d /mnt/dl --meta sqlite:///var/lib/dl/meta.db -o noatime\n  \
    datenlord mount /mnt/private --no-allow-other          # as root: only root may enter\n  \
    datenlord mount /mnt/vol1 --subdir /pv/vol1             # one directory of the volume\n  \
    datenlord mount -d /mnt/dl --update-fstab                # and again at boot (fstab)\n  \
    datenlord mount /mnt/dl --attr-timeout 5 --entry-timeout 5 --workers 4 --log debug")]
pub struct MountArgs {
    /// An existing empty directory.
    pub mountpoint: PathBuf,
    #[command(flatten)]
    pub meta: MetaArg,
    /// Return once the mount is ready (exit 0) or failed (non-zero, with the reason), and keep
    /// serving in the background; its log goes to $DATENLORD_HOME/logs.
    #[arg(short = 'd', long)]
    pub background: bool,
    /// Mount options, comma-separated: allow_other, ro, noatime, noexec, suid, dev, fsname=...
    /// A mount made by root is open to every user (allow_other; the kernel still checks
    /// modes and ACLs, as on a local filesystem) unless --no-allow-other is given.
    #[arg(short = 'o', value_delimiter = ',', value_name = "OPTION")]
    pub options: Vec<String>,
    /// As root, keep the mount to root alone instead of the default allow_other (other users,
    /// even the owners of files on it, then get "Permission denied").
    #[arg(long)]
    pub no_allow_other: bool,
    /// Seconds the kernel may cache attributes.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub attr_timeout: f64,
    /// Seconds the kernel may cache names (and their absence).
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub entry_timeout: f64,
    /// Let the kernel cache writes and send them in large batches.
    #[arg(long)]
    pub writeback_cache: bool,
    /// Threads reading requests from the kernel [default: the number of CPUs].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Seconds an operation on a remote block store (S3), or on a metadata engine that lost
    /// its quorum or cannot be reached (etcd), may take, retries included, before it fails
    /// with EIO; the mount stays up and recovers when they answer again.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub io_timeout: f64,
    /// Seconds this mount may go without renewing its session before other mounts count it
    /// as dead: they release its locks and remove the unlinked files only it held open.
    /// Shorter frees a crashed node's locks sooner; longer rides out longer network trouble.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub lease: f64,
    /// Memory for buffered writes, in MiB; writers wait for flushes beyond it.
    #[arg(long, default_value_t = 512, value_name = "MIB")]
    pub buffer_size: usize,
    /// Metadata the mount keeps in memory, current through the metadata engine's watch, so
    /// that stat, lookups and reads of a file's block map need no round trip (etcd: reads
    /// then trail other mounts' commits by the watch's delay, writes stay linearizable, an
    /// open sees every close before it); 0 turns it off. The embedded engine needs none.
    #[arg(long, default_value = "256M", value_name = "SIZE")]
    pub meta_cache: String,
    /// Mount this directory of the volume (from its root, e.g. /pv/vol1) instead of the
    /// root; `-o subdir=PATH` says the same. Nothing outside it can be reached through the
    /// mount, and df shows its quota, if it has one, as the size.
    #[arg(long, value_name = "PATH")]
    pub subdir: Option<String>,
    /// Once mounted, add this mount to /etc/fstab (or $DATENLORD_FSTAB), replacing a line of
    /// the same mountpoint, so `mount MOUNTPOINT` and boot mount it again (needs
    /// `datenlord install-helper`).
    #[arg(long)]
    pub update_fstab: bool,
    /// Detach a dead FUSE mount ("Transport endpoint is not connected") at MOUNTPOINT first.
    #[arg(long)]
    pub clean_stale: bool,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Also ask the members of this cache group (`datenlord cache-node`) for blocks before
    /// the object store; blocks they send are kept in this mount's own caches too.
    #[arg(long, value_name = "NAME")]
    pub cache_group: Option<String>,
    /// Members of the group that own each block, asked in turn.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub cache_replicas: usize,
    /// The largest read-ahead window of a sequential reader (fetched in parallel blocks into
    /// the memory cache; it grows from 4M while the reader keeps up); 0 turns it off.
    #[arg(long, default_value = "64M", value_name = "SIZE")]
    pub readahead: String,
}

/// The local cache tiers of a mount or a cache node.
#[derive(Debug, Clone, Args)]
pub struct CacheArgs {
    /// Directories of the disk cache, colon-separated or repeated; each volume keeps its
    /// blocks in a subdirectory named by its uuid, and they survive restarts
    /// [default: $DATENLORD_HOME/cache].
    #[arg(long = "cache-dir", value_delimiter = ':', value_name = "DIR")]
    pub cache_dirs: Vec<PathBuf>,
    /// Bytes of blocks the disk cache may keep, e.g. 50G; 0 turns it off [default: half the
    /// free space of the cache directories, at most 100G; for a mount of a volume on a local
    /// directory, 0].
    #[arg(long, value_name = "SIZE")]
    pub cache_size: Option<String>,
    /// Bytes of blocks the memory cache may keep, e.g. 1G; 0 turns it off (and a mount's
    /// read-ahead) [default: an eighth of the available memory, at most 2G; for a mount of
    /// a volume on a local directory, 0].
    #[arg(long, value_name = "SIZE")]
    pub memory_cache_size: Option<String>,
    /// The disk cache gives space back when its filesystem has less than this share free.
    #[arg(long, default_value_t = 0.1, value_name = "RATIO")]
    pub cache_free_ratio: f64,
    /// What the caches evict first: auto (recency for random reads; sequential scans kept
    /// apart so they cannot flush the hot set), lru, mru (keeps part of a cyclic scan larger
    /// than the cache) or s3fifo (scan-resistant FIFO queues).
    #[arg(long, default_value = "auto", value_name = "POLICY")]
    pub cache_policy: Policy,
}

/// Keep blocks of a volume for the mounts of a cache group, and serve them over TCP.
#[derive(Debug, Args)]
#[command(
    after_help = "Readers find the node through the volume's metadata: it registers \
    under its group with a lease and renews it; when it stops (SIGINT/SIGTERM) it leaves the \
    group, and when it dies readers skip it after a short timeout. The same port answers HTTP: \
    GET /locality gives, as JSON, the node's cache counters and how many bytes of each \
    top-level directory it holds.\n\nExamples:\n  \
    datenlord cache-node --meta etcd://10.0.0.1:2379/vol --group rack1 --listen 10.0.0.5:7070 \\\n      \
    --cache-dir /var/cache/datenlord --cache-size 500G\n  \
    curl http://10.0.0.5:7070/locality"
)]
pub struct CacheNodeArgs {
    #[command(flatten)]
    pub meta: MetaArg,
    /// The cache group to join.
    #[arg(long, value_name = "NAME")]
    pub group: String,
    /// The address to serve on.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: String,
    /// The address readers reach this node at (needed when --listen is 0.0.0.0)
    /// [default: --listen].
    #[arg(long, value_name = "HOST:PORT")]
    pub advertise: Option<String>,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Seconds without a heartbeat after which readers leave this node out.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub lease: f64,
    /// Seconds a fetch from the object store may take, retries included.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub io_timeout: f64,
}

/// Serve a volume over S3: its top-level directories are buckets, the paths below them keys.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    DATENLORD_S3_ACCESS_KEY=admin DATENLORD_S3_SECRET_KEY=change-me datenlord gateway\n  \
    datenlord gateway --listen 0.0.0.0:9000 --credentials /etc/datenlord/s3-users\n  \
    datenlord gateway --listen 0.0.0.0:9443 --tls-cert cert.pem --tls-key key.pem\n  \
    datenlord gateway --meta etcd://10.0.0.1:2379/vol1 --listen 10.0.0.7:9000 --region eu-west-1\n  \
    datenlord gateway --listen 0.0.0.0:80 --domain s3.example.com   # photos.s3.example.com\n\n\
    Then: aws --endpoint-url http://127.0.0.1:9000 s3 mb s3://photos\n\n\
    The credentials file holds one user per line, `ACCESS_KEY SECRET_KEY [BUCKET ...]` (no\n\
    bucket or `*`: every bucket), and must be private (chmod 600). A file written through a\n\
    mount of the volume is an object here, and an object PUT here is a file there.")]
pub struct GatewayArgs {
    #[command(flatten)]
    pub meta: MetaArg,
    /// The address to serve S3 on (HTTP).
    #[arg(long, default_value = "127.0.0.1:9000", value_name = "ADDR:PORT")]
    pub listen: String,
    /// The users: one `ACCESS_KEY SECRET_KEY [BUCKET ...]` per line [default: the user of
    /// DATENLORD_S3_ACCESS_KEY and DATENLORD_S3_SECRET_KEY].
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The region the gateway answers for (signatures name it).
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Serve virtual-hosted-style requests below this domain too: `photos.DOMAIN` is bucket
    /// `photos` (repeatable; other hosts are read path-style).
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// The owner (uid:gid) of the files and directories the gateway creates.
    #[arg(long, default_value = "0:0", value_name = "UID:GID")]
    pub owner: String,
    /// Connections served at once; more wait.
    #[arg(long, default_value_t = 4096, value_name = "N")]
    pub max_connections: usize,
    /// Seconds an operation on a remote block store or metadata engine may take, retries
    /// included, before the request fails.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub io_timeout: f64,
    /// Memory for buffered writes of uploads, in MiB; uploads wait for flushes beyond it.
    #[arg(long, default_value_t = 512, value_name = "MIB")]
    pub buffer_size: usize,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// The largest read-ahead window of a sequential GET; 0 turns it off.
    #[arg(long, default_value = "64M", value_name = "SIZE")]
    pub readahead: String,
}

/// Unmount a DatenLord mount.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  datenlord umount /mnt/dl\n  datenlord umount -l /mnt/dl")]
pub struct UmountArgs {
    pub mountpoint: PathBuf,
    /// Detach now even if busy; it goes away when no longer used.
    #[arg(short = 'l', long)]
    pub lazy: bool,
}

/// Show a volume: settings, active mounts, space and inodes.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  datenlord status\n  datenlord status --meta sqlite:///var/lib/dl/meta.db --json"
)]
pub struct StatusArgs {
    #[command(flatten)]
    pub meta: MetaArg,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also show the cache groups: each member, whether its lease runs, its counters and
    /// how much of each top-level directory it holds (asked of the member over HTTP).
    #[arg(long)]
    pub cache: bool,
}

/// Load files into the cache of the mount serving them (so that reads need not wait for the
/// object store), report how much of them is cached, or drop them from it.
#[derive(Debug, Args)]
#[command(
    after_help = "Directories are walked (symbolic links are not followed). A summary \
    follows: files, bytes, throughput and the share cached.\n\nExamples:\n  \
    datenlord warmup /mnt/dl/datasets/imagenet --threads 8\n  \
    datenlord warmup --check /mnt/dl/datasets\n  \
    datenlord warmup --evict /mnt/dl/datasets/old"
)]
pub struct WarmupArgs {
    /// Files and directories on a DatenLord mount.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Ranges of 64 MiB worked on at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub threads: usize,
    /// Drop them from the mount's cache (and the kernel's page cache) instead.
    #[arg(long)]
    pub evict: bool,
    /// Only report how much of them is cached.
    #[arg(long)]
    pub check: bool,
}

/// Measure a directory: write and read big files, then write, read and stat small files.
#[derive(Debug, Args)]
#[command(
    after_help = "Everything happens in a new directory under PATH, removed at the end (also \
    after an error or Ctrl-C). Before each read phase the kernel's page cache is dropped when \
    permitted (root). A summary follows: per phase the throughput and the mean time per \
    operation (per 1 MiB request of a big file, per small file). When PATH is on a DatenLord \
    mount, where the time went comes next, per phase: metadata operations, requests to the \
    object store, and the blocks read from each cache tier and from the object store (the \
    mount's counters, so other activity on that mount counts too). Sizes take a unit: \
    K, M or G (powers of 1024).\n\nExamples:\n  \
    datenlord bench /mnt/dl\n  \
    datenlord bench /mnt/dl --threads 4 --big-file-size 256M\n  \
    datenlord bench /mnt/dl --big-file-size 0 --small-files 10000 --small-file-size 4K"
)]
pub struct BenchArgs {
    /// The directory to measure (on a DatenLord mount, or any other for comparison).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Size of the big file each thread writes and reads back in 1 MiB requests (fsynced
    /// once written); 0 skips the big-file phases.
    #[arg(long, default_value = "1G", value_name = "SIZE")]
    pub big_file_size: String,
    /// Small files each thread creates, writes and closes, reads back and stats; 0 skips the
    /// small-file phases.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub small_files: u64,
    /// Size of each small file.
    #[arg(long, default_value = "128K", value_name = "SIZE")]
    pub small_file_size: String,
    /// Threads working at once, each on files of its own.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub threads: usize,
}

/// Check a volume's metadata and that every block its files need exists.
#[derive(Debug, Args)]
#[command(
    after_help = "Exits 0 when the volume is consistent, 1 when problems were found (fixed \
    or not).\n\nExamples:\n  datenlord fsck\n  datenlord fsck --meta sqlite:///var/lib/dl/meta.db --repair"
)]
pub struct FsckArgs {
    #[command(flatten)]
    pub meta: MetaArg,
    /// Fix what can be fixed: link counts, usage counters, dangling entries, leaked blocks.
    #[arg(long)]
    pub repair: bool,
}

/// Limit the space and inodes of directories (every enclosing limit applies to nested ones).
#[derive(Debug, Args)]
#[command(
    after_help = "Paths are inside the volume, from its root (not through a mount). \
    Usage is kept exact by every change, in the same transaction; a write or create past a \
    limit fails with EDQUOT (\"Disk quota exceeded\"), and df on a directory with a quota, or \
    on a mount of it (--subdir), shows the quota as the size. A file counts in whole 4 KiB \
    blocks of its size. A directory without a quota of its own cannot be renamed across a \
    quota boundary unless empty (EXDEV: mv copies it instead).\n\nExamples:\n  \
    datenlord quota set /pv/vol1 --capacity 10G --inodes 100000\n  \
    datenlord quota get /pv/vol1\n  \
    datenlord quota list --meta etcd://10.0.0.1:2379/vol --json\n  \
    datenlord quota check --repair\n  \
    datenlord quota delete /pv/vol1"
)]
pub struct QuotaArgs {
    #[command(flatten)]
    pub meta: MetaArg,
    /// Print JSON (get, list): path, limits, usage, and whether it is counted yet.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub action: QuotaAction,
}

#[derive(Debug, Subcommand)]
pub enum QuotaAction {
    /// Set (or change) a directory's quota; a new quota on a full directory counts what is
    /// there first.
    Set {
        /// The directory, from the volume's root.
        path: String,
        /// Bytes the tree may use, e.g. 10G; 0: no limit [default: unchanged, or none].
        #[arg(long, value_name = "SIZE")]
        capacity: Option<String>,
        /// Inodes the tree may hold; 0: no limit [default: unchanged, or none].
        #[arg(long, value_name = "N")]
        inodes: Option<u64>,
    },
    /// Show a directory's quota and usage.
    Get {
        /// The directory, from the volume's root.
        path: String,
    },
    /// Show every quota.
    List,
    /// Remove a directory's quota.
    Delete {
        /// The directory, from the volume's root.
        path: String,
    },
    /// Count every quota's usage again from its tree; exits 1 when a count differs.
    Check {
        /// Set recorded usage to the count where it differs.
        #[arg(long)]
        repair: bool,
    },
}

/// Copy a file or a directory tree without copying its data: the copy shares the original's
/// blocks (written once, never changed), so it takes a moment whatever the size.
#[derive(Debug, Args)]
#[command(
    after_help = "Paths are inside the volume, from its root (not through a mount). The \
    copy keeps modes, owners, times, extended attributes and ACLs, symbolic links, and hard \
    links inside the tree; it is the tree as it was when the clone started, even while others \
    write to it, and it appears whole at the end (a clone that fails or is killed leaves \
    nothing visible; a mount, or `datenlord gc --delete`, removes what it had built). Writes to \
    either side never show in the other. It counts against the destination's quota.\n\n\
    Examples:\n  \
    datenlord clone /datasets/imagenet /scratch/imagenet-try2\n  \
    datenlord clone --meta etcd://10.0.0.1:2379/vol /pv/vol1 /pv/vol1-copy"
)]
pub struct CloneArgs {
    #[command(flatten)]
    pub meta: MetaArg,
    /// What to copy, from the volume's root.
    #[arg(value_name = "SRC")]
    pub src: String,
    /// The new name, from the volume's root (its directory must exist; the name must not).
    #[arg(value_name = "DST")]
    pub dst: String,
}

/// Find, and with --delete remove, what the storage holds that no file needs: objects leaked
/// by crashes, the trees of clones whose builders died, and S3 multipart uploads nobody
/// finished.
#[derive(Debug, Args)]
#[command(
    after_help = "A dry run unless --delete is given. The store is listed as a stream \
    and checked in batches, so memory stays small whatever its size; safe while the volume is \
    mounted (an object being written is known to the metadata before its first block is \
    stored). Multipart uploads neither completed nor aborted within --uploads-older-than \
    days are discarded as an abort would. fsck finds problems in the metadata; gc fixes the \
    storage side.\n\n\
    Examples:\n  datenlord gc\n  datenlord gc --meta etcd://10.0.0.1:2379/vol --delete\n  \
    datenlord gc --delete --uploads-older-than 7"
)]
pub struct GcArgs {
    #[command(flatten)]
    pub meta: MetaArg,
    /// Delete what was found.
    #[arg(long)]
    pub delete: bool,
    /// Unfinished S3 multipart uploads started this many days ago or earlier count as
    /// abandoned (0: every unfinished upload).
    #[arg(long, value_name = "DAYS", default_value_t = 1)]
    pub uploads_older_than: u32,
}

/// Link mount.datenlord to this binary, so mount(8) and /etc/fstab can mount DatenLord.
#[derive(Debug, Args)]
#[command(
    after_help = "Then any of these mounts a volume (in the background; `umount DIR` \
    unmounts it):\n  \
    mount -t datenlord sqlite:///var/lib/dl/meta.db /mnt/dl -o allow_other,cache_size=50G\n  \
    mount /mnt/dl    # with this /etc/fstab line:\n  \
    sqlite:///var/lib/dl/meta.db /mnt/dl datenlord _netdev,allow_other 0 0\n\n\
    Options are mount(8)'s (_netdev, nofail, noauto, ... are accepted), the kernel's (ro, \
    noatime, allow_other, ...), and `datenlord mount`'s flags written with underscores \
    (attr_timeout=5, cache_size=50G, subdir=/pv/a, writeback_cache). docs/mount.md has a \
    systemd unit.\n\nExamples:\n  datenlord install-helper\n  datenlord install-helper --dir /usr/local/sbin"
)]
pub struct InstallHelperArgs {
    /// Where mount(8) looks for helpers.
    #[arg(long, default_value = "/sbin", value_name = "DIR")]
    pub dir: PathBuf,
    /// Replace a mount.datenlord that is not a link to this binary.
    #[arg(long)]
    pub force: bool,
}

/// Write a volume's whole metadata to one file: the backup, and the way to another engine.
#[derive(Debug, Args)]
#[command(
    after_help = "The file is JSON lines: a header, one line per metadata record \
    (key and value in hex), and a trailer with the count and a CRC-32C. It is read from one \
    snapshot, so a dump of a mounted volume is one moment of it. File data stays in the \
    object store: a dump and the store together are the volume.\n\nExamples:\n  \
    datenlord dump /backup/vol.dump\n  \
    datenlord dump --meta etcd://10.0.0.1:2379/vol - | gzip > vol.dump.gz"
)]
pub struct DumpArgs {
    #[command(flatten)]
    pub meta: MetaArg,
    /// Where to write (- for standard output).
    #[arg(value_name = "FILE")]
    pub file: String,
}

/// Load a dump into an empty metadata engine of any kind.
#[derive(Debug, Args)]
#[command(
    after_help = "The engine must hold no volume. The records are checked against the \
    trailer's count and checksum before the volume record is written (last), so a damaged or \
    truncated dump never becomes a volume. The sessions of the dumped volume's mounts come \
    along and end as dead at the first mount. Stop writing to the old volume before moving \
    between engines.\n\nExamples:\n  \
    datenlord load --meta etcd://10.0.0.1:2379/vol /backup/vol.dump\n  \
    datenlord load --meta sqlite:///var/lib/dl/meta.db /backup/vol.dump"
)]
pub struct LoadArgs {
    /// The metadata engine to load into (created if missing).
    #[arg(long, value_name = "META_URL")]
    pub meta: String,
    /// The dump.
    #[arg(value_name = "FILE")]
    pub file: String,
}

/// Read-only clones of a directory, kept where no path of the volume leads, restored by
/// cloning them back.
#[derive(Debug, Args)]
#[command(
    after_help = "A snapshot is a clone (metadata only: it shares the blocks) in a \
    reserved directory no mount, gateway or other front end can reach, so it cannot change; it \
    does not count against any quota. Paths are inside the volume, from its root.\n\n\
    Examples:\n  \
    datenlord snapshot create /pv/vol1 vol1-monday\n  \
    datenlord snapshot list\n  \
    datenlord snapshot restore vol1-monday /pv/vol1-restored\n  \
    datenlord snapshot delete vol1-monday"
)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub meta: MetaArg,
    #[command(subcommand)]
    pub action: SnapshotAction,
}

/// Deleted and replaced files kept for the volume's trash days (`format --trash-days`):
/// list, restore or purge them.
#[derive(Debug, Args)]
#[command(
    after_help = "A file's last name, a removed directory and a file replaced by a rename or \
    an S3 PUT go to the trash (mounts show it to root as /.trash), one directory per hour \
    (YYYY-MM-DD-HH, UTC), named PARENT-INODE-NAME; it leaves its quota but still counts in the \
    volume's usage, until a mount purges its hour after the trash days. Restoring puts an entry \
    back under its name in the directory it left (directories first, so a removed tree comes \
    back whole); `mv /mnt/.trash/HOUR/ENTRY DEST` works too.\n\n\
    Examples:\n  \
    datenlord trash list\n  \
    datenlord trash restore 2026-12-01-22/1-4711-report.pdf\n  \
    datenlord trash restore --hour 2026-12-01-22     # everything deleted in that hour\n  \
    datenlord trash purge                            # what has expired, now\n  \
    datenlord trash purge --all                      # everything"
)]
pub struct TrashArgs {
    #[command(flatten)]
    pub meta: MetaArg,
    #[command(subcommand)]
    pub action: TrashAction,
}

#[derive(Debug, Subcommand)]
pub enum TrashAction {
    /// Show what the trash holds, oldest first.
    List {
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Put entries back where they were deleted from.
    Restore {
        /// Entries as `list` shows them: HOUR/NAME.
        entries: Vec<String>,
        /// Every entry of this hour (YYYY-MM-DD-HH); may be repeated.
        #[arg(long, value_name = "HOUR")]
        hour: Vec<String>,
        /// Every entry of the trash.
        #[arg(long)]
        all: bool,
    },
    /// Delete for good what the trash days no longer keep (or more).
    Purge {
        /// Everything in the trash.
        #[arg(long)]
        all: bool,
        /// Hours that ended more than this many days ago [default: the volume's trash days]
        #[arg(long, value_name = "DAYS", conflicts_with = "all")]
        older_than: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SnapshotAction {
    /// Take a snapshot of PATH named NAME.
    Create {
        /// What to snapshot, from the volume's root.
        path: String,
        /// The snapshot's name.
        name: String,
    },
    /// Show every snapshot.
    List {
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Delete a snapshot (its blocks go when nothing else shares them).
    Delete {
        /// The snapshot's name.
        name: String,
    },
    /// Clone a snapshot back into the volume, as DST.
    Restore {
        /// The snapshot's name.
        name: String,
        /// The new name, from the volume's root (its directory must exist; the name must not).
        dst: String,
    },
}
