/*
 * lamina-jail: start one Lambda execution environment inside namespaces.
 *
 * Run by the Lamina server (as root) with the environment of the runtime as its own
 * environment and a flat argv spec:
 *
 *   lamina-jail [-c JOIN]... [-H DIR]... [-B SRC DST]... [-L TARGET PATH]... [-R 1 | -r TEMPLATE_FD]
 *               [-T TMP_MB | -m TMP_FD] [-S SHM_MB]
 *               [-U UID] [-G GID] [-N NOFILE] [-P NPROC] [-n HOSTNAME] [-d WORKDIR]
 *               [-k KEEP] [-e NETNS_FD] [-p PARENT] [-s full|zygote] [-Z TRACE_FD] [-z MAKER_FD]
 *               -- RUNTIME ARGV...
 *   lamina-jail -W ROOT [-W ROOT]... [-V VOLUMES] [-x NFT -X TABLE]   (the watchdog)
 *   lamina-jail -D full|zygote              (print the seccomp program, see below)
 *   lamina-jail -M 1 -R 1 [-B SRC DST]... [-L TARGET PATH]... [-A POINT]...   (a root template)
 * -C DIR TYPE OPTIONS (repeated) gives the host's cgroup mounts (else read from /proc/self/mounts).
 *
 * Three processes result:  jail (host pid ns, waits, forwards SIGTERM/SIGINT)
 *   -> init (pid 1 of a new pid ns: builds the mount tree, reaps orphans, forwards signals)
 *     -> runtime (pid 2: unprivileged, execs the runtime argv).
 * When the runtime exits, init exits with its status and the kernel kills whatever is left
 * in the pid namespace; the jail exits with the same status (or 128+signal).
 * The runtime inherits file descriptors 0-2, plus 3..KEEP-1 when -k is given (a zygote's
 * control socket); every other descriptor is closed before the exec.
 * With -m, descriptor TMP_FD is the environment's /tmp volume, a detached mount the server
 * made with fsmount(2) (never attached to the host's tree): init moves it onto /tmp.
 * With -e, the jail first joins the network namespace open at descriptor NETNS_FD (made by
 * the server, with the Runtime API already listening on its loopback) and closes it.
 * With -p, the jail dies with its parent (PR_SET_PDEATHSIG), and exits at once if PARENT is
 * no longer its parent (it died before the jail could ask).
 *
 * The runtime runs under a seccomp filter (build_filter below): calls a container runtime's
 * default profile denies fail with EPERM. `-s zygote` allows one more call, setns: a
 * zygote's forks join namespaces made for them (below) and make none; each environment it
 * forks installs the full program, which the server gets once from `-D full` (one
 * definition, here).
 *
 * With -z (a zygote's jail), init also serves the server's "make an environment's
 * namespaces" requests on the SOCK_SEQPACKET socket MAKER_FD (make_env below): the
 * zygote runs the function's INIT code, so it may create no namespace and mount nothing;
 * init, trusted and outside the zygote's filter, makes them, and the zygote's fork joins
 * them with setns.
 *
 * The watchdog (-W) is started once per server with a pipe from the server as its stdin.
 * When that pipe reaches EOF (the server exited, also by SIGKILL) it kills every process
 * in every group under each ROOT (the server's cgroup roots), thawing frozen groups so the
 * kill lands, and removes the groups; with -V it also unmounts and deletes the server's
 * /tmp volumes under VOLUMES, and with -x/-X deletes the server's nftables table. A frozen v1 task acts on no signal, not even the
 * parent-death SIGKILL, until thawed: that is why the parent-death signal is not enough.
 *
 * With -Z, each step of the start (cgroups joined, namespaces made, mounts, pivot_root, the
 * runtime's exec...) writes a line "STEP MONOTONIC_NS" to descriptor TRACE_FD, which is
 * closed before the exec with every descriptor from KEEP on (`python -m bench.coldstart --steps` reads it).
 *
 * Exit 125 means the jail itself failed (the reason is written to stderr), 126/127 that
 * the runtime could not be executed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <mntent.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>

#define MAX_ITEMS 64
#define JAIL_FAILED 125

extern char **environ;

struct jail_attr { uint64_t attr_set, attr_clr, propagation, userns_fd; };
#define J_ATTR_RDONLY 0x00000001
#define J_ATTR_NOSUID 0x00000002
#define J_AT_RECURSIVE 0x8000
/* move_mount(2): one number on every architecture (Linux 5.2 added it everywhere at once). */
#define J_SYS_move_mount 429
#define J_MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define J_SYS_open_tree 428
#define J_SYS_mount_setattr 442
#define J_OPEN_TREE_CLONE 1
#define J_ATTR_NODEV 0x00000004

static const char *filter_kind = "full", *dump_kind = NULL;
static const char *watch_roots[MAX_ITEMS];
static const char *volumes_dir = NULL;  /* -V: the watchdog also removes the /tmp volumes */
static const char *nft_path = NULL, *nft_table = NULL;  /* -x, -X: and the NAT table */
static int n_watch;
static long parent_pid = 0;
#define NEW_ROOT_STAGE "/tmp"  /* where the new root is built (a mount point in any tree) */
static const char *link_target[MAX_ITEMS], *link_path[MAX_ITEMS];
static int n_links;
static long new_root = 0;
/* -m: the environment's /tmp volume, a detached mount (fsmount) at this descriptor, moved
 * onto /tmp instead of a tmpfs. The volume is never mounted in the host's tree, so every
 * jail's copy of the host's mounts stays as small as the host's own table. */
static long tmp_mount_fd = -1;
/* -M 1: make a root template (the tree of -B, -L and the mount points, read-only, made
 * the root of a new mount namespace) and hold it until stdin closes; the server keeps
 * that namespace (/proc/PID/ns/mnt) and passes it to each jail as -r FD. The jail then
 * joins a copy of it instead of building the tree: its -B binds are only the function's
 * own (code, runtimes, layers), cloned on the host (open_tree) and attached inside. */
static long template_mode = 0, template_fd = -1;
static const char *extra_points[MAX_ITEMS];  /* -A: more mount points in a template */
static int n_extra_points;
static int clone_fd[MAX_ITEMS];
static int host_sys_fd = -1;  /* -r without a network namespace: a clone of the host's /sys */
/* -C DIR TYPE OPTIONS: the host's cgroup mounts, as the server read them once. */
static const char *cgm_dir[MAX_ITEMS], *cgm_type[MAX_ITEMS], *cgm_opts[MAX_ITEMS];
static int n_cgroup_mounts;
static const char *cgroups[MAX_ITEMS], *hidden[MAX_ITEMS], *bind_src[MAX_ITEMS], *bind_dst[MAX_ITEMS];
static int n_cgroups, n_hidden, n_binds;
static long tmp_mb = 512, shm_mb = 64, nofile = 1024, nproc = 0;
static long uid = 993, gid = 993, keep_fds = 3, netns_fd = -1, trace_fd = -1, maker_fd = -1;
static const char *hostname = "lamina", *workdir = "/";
static char **run_argv;
static volatile pid_t forward_to;

static void die(const char *what, const char *arg) {
    fprintf(stderr, "lamina-jail: %s %s: %s\n", what, arg ? arg : "", strerror(errno));
    _exit(JAIL_FAILED);
}

/* -Z: one "STEP NS" line (CLOCK_MONOTONIC) per step; a no-op without it. */
static void trace(const char *step) {
    if (trace_fd < 0) return;
    struct timespec ts;
    char line[96];
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int len = snprintf(line, sizeof line, "%s %lld\n", step,
                       (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    if (write((int)trace_fd, line, (size_t)len) < 0) trace_fd = -1;
}

static void usage(const char *why) {
    fprintf(stderr, "lamina-jail: bad arguments: %s\n", why);
    _exit(JAIL_FAILED);
}

static long number(const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < 0) usage(s);
    return v;
}

static void parse(int argc, char **argv) {
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) { i++; break; }
        if (a[0] != '-' || a[1] == 0 || a[2] != 0 || i + 1 >= argc) usage(a);
        const char *v = argv[++i];
        switch (a[1]) {
        case 'c': if (n_cgroups == MAX_ITEMS) usage("too many -c"); cgroups[n_cgroups++] = v; break;
        case 'H': if (n_hidden == MAX_ITEMS) usage("too many -H"); hidden[n_hidden++] = v; break;
        case 'B':
            if (n_binds == MAX_ITEMS || i + 1 >= argc) usage("-B needs SRC DST");
            bind_src[n_binds] = v; bind_dst[n_binds++] = argv[++i]; break;
        case 'T': tmp_mb = number(v); break;
        case 'S': shm_mb = number(v); break;
        case 'U': uid = number(v); break;
        case 'G': gid = number(v); break;
        case 'N': nofile = number(v); break;
        case 'P': nproc = number(v); break;
        case 'n': hostname = v; break;
        case 'd': workdir = v; break;
        case 's': filter_kind = v; break;
        case 'R': new_root = number(v); break;
        case 'm': tmp_mount_fd = number(v); break;
        case 'M': template_mode = number(v); break;
        case 'r': template_fd = number(v); break;
        case 'A': if (n_extra_points == MAX_ITEMS) usage("too many -A"); extra_points[n_extra_points++] = v; break;
        case 'C':
            if (n_cgroup_mounts == MAX_ITEMS || i + 2 >= argc) usage("-C needs DIR TYPE OPTIONS");
            cgm_dir[n_cgroup_mounts] = v;
            cgm_type[n_cgroup_mounts] = argv[++i];
            cgm_opts[n_cgroup_mounts++] = argv[++i];
            break;
        case 'L':
            if (n_links == MAX_ITEMS || i + 1 >= argc) usage("-L needs TARGET PATH");
            link_target[n_links] = v; link_path[n_links++] = argv[++i]; break;
        case 'D': dump_kind = v; break;
        case 'V': volumes_dir = v; break;
        case 'x': nft_path = v; break;
        case 'X': nft_table = v; break;
        case 'W': if (n_watch == MAX_ITEMS) usage("too many -W"); watch_roots[n_watch++] = v; break;
        case 'p': parent_pid = number(v); break;
        case 'e': netns_fd = number(v); break;
        case 'Z': trace_fd = number(v); break;
        case 'z': maker_fd = number(v); break;
        case 'k': keep_fds = number(v); if (keep_fds < 3) usage("-k must be at least 3"); break;
        default: usage(a);
        }
    }
    if (n_watch > 0 || dump_kind != NULL || template_mode) return;
    if (strcmp(filter_kind, "full") != 0 && strcmp(filter_kind, "zygote") != 0) usage("-s");
    if (i >= argc) usage("no runtime argv after --");
    if (uid == 0 || gid == 0) usage("refusing to run the runtime as root");
    /* The runtime (the zygote) must not hold the socket its init takes requests on. */
    if (maker_fd >= 0 && maker_fd < keep_fds) usage("-z must be at least -k");
    run_argv = argv + i;
}

static void forward(int sig) {
    if (forward_to > 0) kill(forward_to, sig);
}

static void install_forwarding(pid_t child) {
    forward_to = child;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* Wait for `child`, reaping any other child on the way (init adopts orphans). */
static int wait_for(pid_t child) {
    for (;;) {
        int status;
        pid_t got = wait(&status);
        if (got < 0) {
            if (errno == EINTR) continue;
            return JAIL_FAILED;
        }
        if (got != child) continue;
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    }
}

/* "0" is the writer itself. In cgroup v1 the server passes each group's `tasks` file: moving
 * the calling thread there skips the global lock a `cgroup.procs` write (or any write of a
 * pid) takes, whose RCU grace period cost 5-20 ms per cold start here. The jail has one
 * thread, so moving it moves the process. (v2 has only `cgroup.procs`.) */
static int home_cg[MAX_ITEMS];  /* -z: the zygote's own groups, kept for init (make_env_for) */
static void join_cgroups(void) {
    for (int i = 0; i < n_cgroups; i++) {
        int fd = open(cgroups[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0\n", 2) != 2) die("join cgroup", cgroups[i]);
        if (maker_fd >= 0) home_cg[i] = fd; else close(fd);
    }
}

/* mkdir -p for a mount target, creating a file instead of a directory as the leaf if needed. */
static void make_target(const char *path, int as_dir) {
    char buf[4096];
    struct stat existing;
    if (stat(path, &existing) == 0) return;  /* e.g. a placeholder in a read-only bind */
    if (strlen(path) >= sizeof buf) usage("path too long");
    strcpy(buf, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) < 0 && errno != EEXIST) die("mkdir", buf);
        *p = '/';
    }
    if (as_dir) {
        if (mkdir(buf, 0755) < 0 && errno != EEXIST) die("mkdir", buf);
    } else {
        int fd = open(buf, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) die("create", buf);
        close(fd);
    }
}

/* Mount options of a cgroup mount that are the filesystem's own (controllers, name=...). */
static void cgroup_options(const char *all, char *out, size_t size) {
    static const char *flags[] = {"rw", "ro", "relatime", "noatime", "strictatime", "nodiratime",
                                  "nosuid", "nodev", "noexec", NULL};
    char buf[512];
    snprintf(buf, sizeof buf, "%s", all);
    out[0] = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int flag = 0;
        for (int i = 0; flags[i]; i++) flag |= strcmp(tok, flags[i]) == 0;
        if (flag) continue;
        if (out[0]) strncat(out, ",", size - strlen(out) - 1);
        strncat(out, tok, size - strlen(out) - 1);
    }
}

/* `root` + `path` (root is "" in place, the staging directory when building a new root). */
static const char *under(const char *root, const char *path, char *buf, size_t size) {
    if ((size_t)snprintf(buf, size, "%s%s", root, path) >= size) usage("path too long");
    return buf;
}

/* A fresh sysfs in an own network namespace (its network entries are then the
 * environment's) and, under /sys/fs/cgroup, only the hierarchies the environment has a
 * group in, mounted afresh in its cgroup namespace: its own group is their root, every
 * other group is invisible. */
enum { MAXCG = 32 };
static char cg_dirs[MAXCG][128], cg_types[MAXCG][16], cg_opts[MAXCG][256];
static int cg_mine[MAXCG], cg_n = 0, cg_root_v2 = 0, cg_scanned = 0;

/* One cgroup mount of the host: where, its type and its mount options. */
static void add_cgroup_mount(const char *dir, const char *type, const char *options) {
    int cg = strcmp(type, "cgroup") == 0 || strcmp(type, "cgroup2") == 0;
    if (!cg) return;
    if (strcmp(dir, "/sys/fs/cgroup") == 0) {
        cg_root_v2 = strcmp(type, "cgroup2") == 0;
        return;
    }
    if (strncmp(dir, "/sys/fs/cgroup/", 15) != 0 || cg_n == MAXCG) return;
    if (strlen(dir) >= sizeof cg_dirs[0]) return;
    strcpy(cg_dirs[cg_n], dir);
    snprintf(cg_types[cg_n], sizeof cg_types[cg_n], "%s", type);
    cgroup_options(options, cg_opts[cg_n], sizeof cg_opts[cg_n]);
    cg_mine[cg_n] = 0;
    size_t len = strlen(cg_dirs[cg_n]);
    for (int i = 0; i < n_cgroups; i++)
        cg_mine[cg_n] |= strncmp(cgroups[i], cg_dirs[cg_n], len) == 0 && cgroups[i][len] == '/';
    cg_n++;
}

/* The host's cgroup hierarchies, read from the host's mount table (so before a jail
 * joins a root template's mount namespace, where the table is the template's), unless
 * the server passed them (-C): the host's table can be long, and is the same every time. */
static void scan_cgroups(void) {
    if (cg_scanned) return;
    cg_scanned = 1;
    if (n_cgroup_mounts > 0) {
        for (int i = 0; i < n_cgroup_mounts; i++)
            add_cgroup_mount(cgm_dir[i], cgm_type[i], cgm_opts[i]);
        return;
    }
    FILE *m = setmntent("/proc/self/mounts", "re");
    if (m == NULL) die("read", "/proc/self/mounts");
    struct mntent *e;
    while ((e = getmntent(m)) != NULL) add_cgroup_mount(e->mnt_dir, e->mnt_type, e->mnt_opts);
    endmntent(m);
}

static void own_sys(const char *root) {
    char path[4096];
    scan_cgroups();
    unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    /* The host's network namespace already has its sysfs (a second one is EBUSY). */
    if (netns_fd >= 0 && mount("sysfs", under(root, "/sys", path, sizeof path), "sysfs", ro, NULL) < 0)
        die("mount", "/sys");
    const char *cg = under(root, "/sys/fs/cgroup", path, sizeof path);
    if (cg_root_v2) {
        if (mount("cgroup2", cg, "cgroup2", ro, NULL) < 0) die("mount", "cgroup2");
        return;
    }
    if (cg_n == 0) return;
    if (mount("lamina-cgroup", cg, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16k,mode=0755") < 0)
        die("mount", "/sys/fs/cgroup");
    for (int i = 0; i < cg_n; i++) {
        char dir[4096];
        under(root, cg_dirs[i], dir, sizeof dir);
        if (mkdir(dir, 0555) < 0 && errno != EEXIST) die("mkdir", dir);
        if (cg_mine[i] && mount("cgroup", dir, cg_types[i], ro, cg_opts[i]) < 0) die("mount", dir);
    }
    if (mount(NULL, under(root, "/sys/fs/cgroup", path, sizeof path), NULL, MS_REMOUNT | ro,
              "size=16k,mode=0755") < 0)
        die("make read-only", "/sys/fs/cgroup");
}

/* What every environment gets afresh, on top of its (read-only) tree: its /tmp volume or
 * a tmpfs, /dev/shm, its own /proc, /sys and cgroup mounts. */
static void env_mounts(const char *root) {
    char opts[128], path[4096];
    if (tmp_mount_fd >= 0) {
        /* The environment's own disk volume (its size is EphemeralStorage): writable, made
         * nosuid, nodev by the server (fsmount's attributes). */
        if (syscall(J_SYS_move_mount, (int)tmp_mount_fd, "", AT_FDCWD,
                    under(root, "/tmp", path, sizeof path), J_MOVE_MOUNT_F_EMPTY_PATH) < 0)
            die("attach the /tmp volume", NULL);
        close((int)tmp_mount_fd);
    } else {
        snprintf(opts, sizeof opts, "size=%ldm,mode=1777,uid=%ld,gid=%ld", tmp_mb, uid, gid);
        if (mount("tmpfs", under(root, "/tmp", path, sizeof path), "tmpfs", MS_NOSUID | MS_NODEV,
                  opts) < 0)
            die("mount", "/tmp");
    }
    snprintf(opts, sizeof opts, "size=%ldm,mode=1777", shm_mb);
    if (mount("tmpfs", under(root, "/dev/shm", path, sizeof path), "tmpfs", MS_NOSUID | MS_NODEV,
              opts) < 0)
        die("mount", "/dev/shm");
    if (mount("proc", under(root, "/proc", path, sizeof path), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              NULL) < 0)
        die("mount", "/proc");
    trace("tmp-shm-proc");
    own_sys(root);
    trace("sys-cgroup");
}

/* The mount tree. With -R (a new root, the process tier's default) nothing of the host is
 * visible but what is bound in: a tmpfs is filled with the binds, symlinks and mount
 * points, made read-only, and becomes / (pivot_root). Without it the host's tree stays, its
 * hidden paths covered (the older layout, kept for hosts where -R cannot work). */
static void build_mounts(void) {
    int src_fd[MAX_ITEMS];
    int src_mode[MAX_ITEMS];
    char from[64], path[4096];
    const char *root = new_root ? NEW_ROOT_STAGE : "";

    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("make mounts private", "/");
    /* Sources first: once the hidden paths are covered they can no longer be reached by name. */
    for (int i = 0; i < n_binds; i++) {
        struct stat st;
        src_fd[i] = open(bind_src[i], O_PATH | O_CLOEXEC);
        if (src_fd[i] < 0 || fstat(src_fd[i], &st) < 0) die("open bind source", bind_src[i]);
        src_mode[i] = (int)st.st_mode;
    }
    trace("sources-opened");
    if (new_root) {
        if (mount("lamina-root", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") < 0)
            die("mount new root", root);
    }
    for (int i = 0; !new_root && i < n_hidden; i++) {
        if (mount("lamina-hidden", hidden[i], "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "size=1m,mode=0711") < 0)
            die("hide", hidden[i]);
    }
    for (int i = 0; i < n_binds; i++) {
        const char *dst = under(root, bind_dst[i], path, sizeof path);
        int device = S_ISCHR(src_mode[i]) || S_ISBLK(src_mode[i]);
        make_target(dst, S_ISDIR(src_mode[i]));
        snprintf(from, sizeof from, "/proc/self/fd/%d", src_fd[i]);
        if (mount(from, dst, NULL, MS_BIND | MS_REC, NULL) < 0) die("bind", dst);
        /* Device nodes (/dev/null...) keep working; everything else is nodev. */
        unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | (device ? 0 : MS_NODEV);
        if (mount(NULL, dst, NULL, flags, NULL) < 0) die("make read-only", dst);
        close(src_fd[i]);
    }
    trace("binds");
    if (new_root) {
        for (int i = 0; i < n_links; i++) {
            const char *at = under(root, link_path[i], path, sizeof path);
            char *slash = strrchr(path, '/');
            *slash = 0;
            make_target(path, 1);
            *slash = '/';
            if (symlink(link_target[i], at) < 0 && errno != EEXIST) die("symlink", at);
        }
        static const char *points[] = {"/tmp", "/proc", "/sys", "/dev/shm", "/opt", NULL};
        for (int i = 0; points[i]; i++) make_target(under(root, points[i], path, sizeof path), 1);
        for (int i = 0; i < n_extra_points; i++)
            make_target(under(root, extra_points[i], path, sizeof path), 1);
        /* Without an own network namespace there is no fresh sysfs to mount: the host's. */
        if (netns_fd < 0 && !template_mode && mount("/sys", under(root, "/sys", path, sizeof path), NULL,
                                  MS_BIND | MS_REC, NULL) < 0)
            die("bind", "/sys");
    }
    trace("links");
#ifdef SYS_mount_setattr
    /* Everything read-only, as in Lambda; only /tmp and /dev/shm (below) are writable.
     * Kernels before 5.12 lack mount_setattr: the host's file permissions still apply there. */
    struct jail_attr attr = {.attr_set = J_ATTR_RDONLY | J_ATTR_NOSUID};
    const char *top = new_root ? root : "/";
    if (syscall(SYS_mount_setattr, AT_FDCWD, top, J_AT_RECURSIVE, &attr, sizeof attr) < 0 &&
        errno != ENOSYS)
        die("make root read-only", top);
#endif
    trace("read-only");
    if (!template_mode) env_mounts(root);
    if (new_root) {
        if (chdir(root) < 0) die("chdir", root);
        if (syscall(SYS_pivot_root, ".", ".") < 0) die("pivot_root", root);
        if (umount2(".", MNT_DETACH) < 0) die("detach the host's tree", NULL);
        if (chdir("/") < 0) die("chdir", "/");
        trace("pivot-root");
    }
}

/* -r, on the host before joining the template: a detached, read-only clone of each -B
 * source (open_tree), to attach inside; and the host's cgroup hierarchies. */
static void clone_sources(void) {
    for (int i = 0; i < n_binds; i++) {
        struct stat st;
        clone_fd[i] = (int)syscall(J_SYS_open_tree, AT_FDCWD, bind_src[i],
                                   J_OPEN_TREE_CLONE | O_CLOEXEC | J_AT_RECURSIVE);
        if (clone_fd[i] < 0 || fstat(clone_fd[i], &st) < 0) die("clone bind source", bind_src[i]);
        int device = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode);
        struct jail_attr attr = {.attr_set = J_ATTR_RDONLY | J_ATTR_NOSUID | (device ? 0 : J_ATTR_NODEV)};
        if (syscall(J_SYS_mount_setattr, clone_fd[i], "", AT_EMPTY_PATH | J_AT_RECURSIVE, &attr,
                    sizeof attr) < 0)
            die("make read-only", bind_src[i]);
    }
    if (netns_fd < 0) {
        /* The host's network namespace already has its sysfs (a second one is EBUSY): its
         * /sys, read-only, as the jail that builds its root binds it. */
        host_sys_fd = (int)syscall(J_SYS_open_tree, AT_FDCWD, "/sys",
                                   J_OPEN_TREE_CLONE | O_CLOEXEC | J_AT_RECURSIVE);
        struct jail_attr attr = {.attr_set = J_ATTR_RDONLY | J_ATTR_NOSUID | J_ATTR_NODEV};
        if (host_sys_fd < 0 || syscall(J_SYS_mount_setattr, host_sys_fd, "",
                                       AT_EMPTY_PATH | J_AT_RECURSIVE, &attr, sizeof attr) < 0)
            die("clone", "/sys");
    }
    scan_cgroups();
    trace("sources-opened");
}

/* -r, in init: the template's copy is already the read-only root; attach the function's
 * clones at their mount points (made in the template) and the per-environment mounts. */
static void attach_to_template(void) {
    for (int i = 0; i < n_binds; i++) {
        if (syscall(J_SYS_move_mount, clone_fd[i], "", AT_FDCWD, bind_dst[i],
                    J_MOVE_MOUNT_F_EMPTY_PATH) < 0)
            die("attach", bind_dst[i]);
        close(clone_fd[i]);
    }
    if (host_sys_fd >= 0) {
        if (syscall(J_SYS_move_mount, host_sys_fd, "", AT_FDCWD, "/sys", J_MOVE_MOUNT_F_EMPTY_PATH) < 0)
            die("attach", "/sys");
        close(host_sys_fd);
    }
    /* The clones were made on the host: where the host's mounts are shared (systemd makes
     * them so), each clone is a peer of its source, and a mount on it here (the cgroup
     * tmpfs on the host's /sys, say) would appear on the host. Private first, as the jail
     * that builds its root does. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("make mounts private", "/");
    trace("binds");
    env_mounts("");
    if (chdir("/") < 0) die("chdir", "/");
}

/* -M: build the template and hold its mount namespace until stdin closes. */
static int make_template(void) {
    umask(022);
    if (unshare(CLONE_NEWNS) < 0) die("unshare", "template");
    new_root = 1;
    build_mounts();
    /* The jails that join it make their clones read-only with mount_setattr (Linux 5.12):
     * without it, no template (the server then lets each jail build its root). */
    struct jail_attr none = {0};
    if (syscall(J_SYS_mount_setattr, AT_FDCWD, "/", 0, &none, sizeof none) < 0 && errno == ENOSYS)
        die("root template", "mount_setattr is missing (Linux 5.12+)");
    if (write(1, "ready\n", 6) != 6) die("write", "ready");
    char b[64];
    for (;;) {
        ssize_t n = read(0, b, sizeof b);
        if (n == 0 || (n < 0 && errno != EINTR)) break;
    }
    return 0;
}

/* ---- the seccomp filter ------------------------------------------------------------ */

#if defined(__x86_64__)
#define J_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define J_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif
#define J_NS_FLAGS (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
                    CLONE_NEWPID | CLONE_NEWNET | 0x00000080 /* CLONE_NEWTIME */)
#define J_DENY (SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))
#define MAX_FILTER 256

/* Denied outright (as in Docker's default profile for a process without capabilities). */
static const int denied[] = {
#ifdef SYS_acct
    SYS_acct,
#endif
#ifdef SYS_add_key
    SYS_add_key,
#endif
#ifdef SYS_bpf
    SYS_bpf,
#endif
#ifdef SYS_clock_adjtime
    SYS_clock_adjtime,
#endif
#ifdef SYS_clock_settime
    SYS_clock_settime,
#endif
#ifdef SYS_create_module
    SYS_create_module,
#endif
#ifdef SYS_delete_module
    SYS_delete_module,
#endif
#ifdef SYS_finit_module
    SYS_finit_module,
#endif
#ifdef SYS_fsconfig
    SYS_fsconfig,
#endif
#ifdef SYS_fsmount
    SYS_fsmount,
#endif
#ifdef SYS_fsopen
    SYS_fsopen,
#endif
#ifdef SYS_fspick
    SYS_fspick,
#endif
#ifdef SYS_get_kernel_syms
    SYS_get_kernel_syms,
#endif
#ifdef SYS_init_module
    SYS_init_module,
#endif
#ifdef SYS_io_uring_enter
    SYS_io_uring_enter,
#endif
#ifdef SYS_io_uring_register
    SYS_io_uring_register,
#endif
#ifdef SYS_io_uring_setup
    SYS_io_uring_setup,
#endif
#ifdef SYS_ioperm
    SYS_ioperm,
#endif
#ifdef SYS_iopl
    SYS_iopl,
#endif
#ifdef SYS_kcmp
    SYS_kcmp,
#endif
#ifdef SYS_kexec_file_load
    SYS_kexec_file_load,
#endif
#ifdef SYS_kexec_load
    SYS_kexec_load,
#endif
#ifdef SYS_keyctl
    SYS_keyctl,
#endif
#ifdef SYS_lookup_dcookie
    SYS_lookup_dcookie,
#endif
#ifdef SYS_mount_setattr
    SYS_mount_setattr,
#endif
#ifdef SYS_nfsservctl
    SYS_nfsservctl,
#endif
#ifdef SYS_open_by_handle_at
    SYS_open_by_handle_at,
#endif
#ifdef SYS_open_tree
    SYS_open_tree,
#endif
#ifdef SYS_perf_event_open
    SYS_perf_event_open,
#endif
#ifdef SYS_pivot_root
    SYS_pivot_root,
#endif
#ifdef SYS_process_vm_readv
    SYS_process_vm_readv,
#endif
#ifdef SYS_process_vm_writev
    SYS_process_vm_writev,
#endif
#ifdef SYS_ptrace
    SYS_ptrace,
#endif
#ifdef SYS_query_module
    SYS_query_module,
#endif
#ifdef SYS_quotactl
    SYS_quotactl,
#endif
#ifdef SYS_reboot
    SYS_reboot,
#endif
#ifdef SYS_request_key
    SYS_request_key,
#endif
#ifdef SYS_settimeofday
    SYS_settimeofday,
#endif
#ifdef SYS_swapoff
    SYS_swapoff,
#endif
#ifdef SYS_swapon
    SYS_swapon,
#endif
#ifdef SYS__sysctl
    SYS__sysctl,
#endif
#ifdef SYS_sysfs
    SYS_sysfs,
#endif
#ifdef SYS_syslog
    SYS_syslog,
#endif
#ifdef SYS_umount2
    SYS_umount2,
#endif
#ifdef SYS_uselib
    SYS_uselib,
#endif
#ifdef SYS_userfaultfd
    SYS_userfaultfd,
#endif
#ifdef SYS_ustat
    SYS_ustat,
#endif
#ifdef SYS_vhangup
    SYS_vhangup,
#endif
#ifdef SYS_mount
    SYS_mount,
#endif
#ifdef SYS_unshare
    SYS_unshare,
#endif
#ifdef SYS_move_mount
    SYS_move_mount,
#endif
};

/* Denied to environments, left to a zygote: its forks join the namespaces the zygote's
 * init made for them (make_env). Joining creates nothing; the zygote can mount nothing. */
static const int denied_but_zygote[] = {
#ifdef SYS_setns
    SYS_setns,
#endif
};

#define STMT(code, k) ((struct sock_filter)BPF_STMT((code), (k)))
#define JUMP(code, k, t, f) ((struct sock_filter)BPF_JUMP((code), (k), (t), (f)))

/* Fills `prog` and returns its length. Layout: check the architecture, load the number,
 * one JEQ per denied call jumping to a shared DENY, clone with a namespace flag denied,
 * clone3 answered ENOSYS (its flags sit behind a pointer a filter cannot read; C
 * libraries then fall back to clone, whose flags it can), everything else allowed. */
static int build_filter(int zygote, struct sock_filter *prog) {
    int n = 0;
    int nd = (int)(sizeof denied / sizeof denied[0]);
    int nz = zygote ? 0 : (int)(sizeof denied_but_zygote / sizeof denied_but_zygote[0]);
    prog[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    prog[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, J_AUDIT_ARCH, 1, 0);
    prog[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    prog[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
    /* The x32 ABI numbers the same calls differently: refuse it altogether. */
    prog[n++] = JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);
    prog[n++] = STMT(BPF_RET | BPF_K, J_DENY);
#endif
    /* Each JEQ jumps to DENY, the last of the 7 instructions that follow the JEQs. */
    int total = nd + nz;
    for (int i = 0; i < total; i++) {
        int nr = i < nd ? denied[i] : denied_but_zygote[i - nd];
        prog[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, (unsigned char)(total - i + 5), 0);
    }
#ifdef SYS_clone3
    prog[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1);
    prog[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
#else
    prog[n++] = STMT(BPF_JMP | BPF_JA, 0);
    prog[n++] = STMT(BPF_JMP | BPF_JA, 0);
#endif
    /* clone: its flags are argument 0 (low 32 bits) on x86_64 and aarch64. */
    prog[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 2);
    prog[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
    prog[n++] = JUMP(BPF_JMP | BPF_JSET | BPF_K, J_NS_FLAGS, 1, 0);
    prog[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    prog[n++] = STMT(BPF_RET | BPF_K, J_DENY);
    return n;
}

static void install_filter(int zygote) {
    struct sock_filter prog[MAX_FILTER];
    unsigned short n = (unsigned short)build_filter(zygote, prog);
    struct sock_fprog fprog = {.len = n, .filter = prog};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) < 0) die("seccomp", filter_kind);
}

/* -D: the program as raw struct sock_filter records, for a zygote's forks to install. */
static int dump_filter(void) {
    struct sock_filter prog[MAX_FILTER];
    int n = build_filter(strcmp(dump_kind, "zygote") == 0, prog);
    size_t size = (size_t)n * sizeof prog[0];
    return fwrite(prog, 1, size, stdout) == size && fflush(stdout) == 0 ? 0 : JAIL_FAILED;
}

static void become_runtime(void) {
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = (rlim_t)nofile;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) die("setrlimit", "NOFILE");
    if (nproc > 0) {
        rl.rlim_cur = rl.rlim_max = (rlim_t)nproc;
        if (setrlimit(RLIMIT_NPROC, &rl) < 0) die("setrlimit", "NPROC");
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("prctl", "NO_NEW_PRIVS");
    if (setgroups(0, NULL) < 0) die("setgroups", NULL);
    if (setgid((gid_t)gid) < 0) die("setgid", NULL);
    if (setuid((uid_t)uid) < 0) die("setuid", NULL);
    /* After setuid: changing credentials clears the parent-death signal. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) die("prctl", "PDEATHSIG");
    if (chdir(workdir) < 0) die("chdir", workdir);
    trace("exec");  /* what follows (closing descriptors, the filter) takes microseconds */
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)keep_fds, ~0U, 0U) < 0)
#endif
        for (int fd = (int)keep_fds; fd < 1024; fd++) close(fd);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    install_filter(strcmp(filter_kind, "zygote") == 0);  /* last: only what the runtime may do */
    execvp(run_argv[0], run_argv);
    int code = errno == ENOENT ? 127 : 126;
    fprintf(stderr, "lamina-jail: exec %s: %s\n", run_argv[0], strerror(errno));
    _exit(code);
}

/* The jail's argv (host paths of the code, Lamina's data directory) is what the
 * environment would read in /proc/1/cmdline: init blanks it once the runtime is forked. */
static char *args_start, *args_end;

/* Write `text` into `dir`/`name` if that file exists; returns 0 when written. */
static int put(const char *dir, const char *name, const char *text);

/* ---- namespaces for a zygote's forks (-z) -------------------------------------------
 *
 * The zygote runs the function's INIT code, so its filter denies unshare, mount and
 * their relatives; it may only join namespaces (setns). Per fork the server asks the
 * zygote's init, here, for an environment: a text line "tmp_mb=N net=0|1 vol=0|1
 * api_port=P" and the descriptors [ns socket, net socket (net=1), /tmp volume (vol=1),
 * cgroup join files...]. Init joins the environment's cgroups and clones from there
 * (make_env_for), with its effective uid set to the sandbox user (so
 * that user owns the new user namespace, and the zygote's fork, uid 993 as well, may join
 * it), a process in new user, mount, pid, ipc, uts (and network) namespaces: the
 * environment's pid 1 (env_init). Init writes its uid and gid maps (only the sandbox
 * user) and returns to the zygote's groups; env_init unshares the cgroup namespace, mounts
 * /tmp, /dev/shm and /proc, makes the loopback and listeners, then sends a pidfd of itself
 * and descriptors of its namespaces over the ns socket, whose other end the server gave
 * the zygote with the fork request. The zygote's fork joins them (setns), forks the
 * runtime (pid 2 there) and waits for it; env_init reaps orphans until it is killed.
 *
 * env_init never executes anything and is not dumpable from birth (init made itself so),
 * and its memory belongs to init's user namespace: the zygote, owner of the new user
 * namespace, still may not ptrace it, read its memory or open its /proc/PID/ns files. It
 * runs under the full filter once its namespaces are made. */

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#define RUNTIME_API_PORT 9001
#define MAKER_MAX_FDS 32

struct env_request {
    long tmp_mb, api_port;
    int net, vol;
    int ns_sock, net_sock, vol_fd;
    int cg_fds[MAKER_MAX_FDS];
    int n_cg;
};

static int send_fds(int sock, const char *text, const int *fds, int n) {
    char cbuf[CMSG_SPACE(sizeof(int) * 8)];
    struct iovec iov = {.iov_base = (void *)text, .iov_len = strlen(text)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n > 0) {
        memset(cbuf, 0, sizeof cbuf);
        msg.msg_control = cbuf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
    }
    return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* The zygote's fork reads "error ..." instead of a pidfd and reports it as the restore's
 * failure. */
static void env_fail(const struct env_request *r, const char *what) {
    char text[512];
    snprintf(text, sizeof text, "error %s: %s", what, strerror(errno));
    fprintf(stderr, "lamina-jail: %s\n", text);
    send_fds(r->ns_sock, text, NULL, 0);
    _exit(JAIL_FAILED);
}

static int env_listener(long port) {
    int one = 1, s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 64) < 0)
        return -1;
    return s;
}

/* In the new network namespace: the loopback up, the Runtime API's and Lamina's API's
 * listeners, sent to the server with the namespace (it serves them, and adds the veth). */
static void env_network(struct env_request *r) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0 || ioctl(s, SIOCSIFFLAGS, &ifr) < 0) env_fail(r, "bring the loopback up");
    close(s);
    int fds[3], n = 0;
    if ((fds[n++] = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
        env_fail(r, "open the network namespace");
    if ((fds[n++] = env_listener(RUNTIME_API_PORT)) < 0) env_fail(r, "listen on 127.0.0.1:9001");
    if (r->api_port > 0 && (fds[n++] = env_listener(r->api_port)) < 0)
        env_fail(r, "listen on the API port");
    if (send_fds(r->net_sock, "net", fds, n) < 0) env_fail(r, "send the network namespace");
    for (int i = 0; i < n; i++) close(fds[i]);
    close(r->net_sock);
}

/* Close every descriptor from 3 on but the `n` in `keep`. */
static void close_all_but(int *keep, int n) {
    for (int i = 1; i < n; i++)  /* sort: a handful of numbers */
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j]; keep[j] = keep[j - 1]; keep[j - 1] = t;
        }
    unsigned from = 3;
    for (int i = 0; i <= n; i++) {
        unsigned to = i < n ? (unsigned)keep[i] : ~0U;
        if (i < n && keep[i] < 3) continue;
        if (to > from) {
#ifdef SYS_close_range
            if (syscall(SYS_close_range, from, to - 1, 0U) < 0)
#endif
                for (unsigned fd = from; fd < to && fd < 1024; fd++) close((int)fd);
        }
        from = to + 1;
    }
}

/* The environment's pid 1 (the child of init's clone). Never returns. */
static void env_init(struct env_request *r, int sync_fd) {
    /* Init's handlers forward to the zygote, whose pid means nothing here. With none, pid 1
     * of a pid namespace ignores every signal sent from inside it. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    int keep[MAKER_MAX_FDS + 4], n = 0;
    keep[n++] = sync_fd;
    keep[n++] = r->ns_sock;
    if (r->net_sock >= 0) keep[n++] = r->net_sock;
    if (r->vol_fd >= 0) keep[n++] = r->vol_fd;
    for (int i = 0; i < r->n_cg; i++) keep[n++] = r->cg_fds[i];
    close_all_but(keep, n);  /* init's own: the maker and control sockets, the signalfd */
    char b, opts[128];
    /* Until init has written the maps nothing is mapped in the new user namespace. */
    if (read(sync_fd, &b, 1) != 1) _exit(JAIL_FAILED);
    close(sync_fd);
    if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) < 0 ||
        setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0)
        env_fail(r, "become the sandbox user");
    /* Changing credentials resets it; ptrace by the zygote must stay impossible. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) env_fail(r, "prctl(DUMPABLE)");
    /* Born in the environment's groups (make_env_for): its own group is the root of the
     * cgroup namespace it makes here. */
    for (int i = 0; i < r->n_cg; i++) close(r->cg_fds[i]);
    if (unshare(CLONE_NEWCGROUP) < 0) env_fail(r, "unshare the cgroup namespace");
    if (r->vol_fd >= 0) {
        /* The environment's disk volume (EphemeralStorage), a detached mount the server
         * made and never attached on the host. */
        if (syscall(J_SYS_move_mount, r->vol_fd, "", AT_FDCWD, "/tmp", J_MOVE_MOUNT_F_EMPTY_PATH) < 0)
            env_fail(r, "attach the /tmp volume");
        close(r->vol_fd);
    } else {
        snprintf(opts, sizeof opts, "size=%ldm,mode=1777,uid=%ld,gid=%ld", r->tmp_mb, uid, gid);
        if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) env_fail(r, "mount /tmp");
    }
    snprintf(opts, sizeof opts, "size=%ldm,mode=1777", shm_mb);
    if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
        env_fail(r, "mount /dev/shm");
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        env_fail(r, "mount /proc");
    if (sethostname(hostname, strlen(hostname)) < 0) env_fail(r, "sethostname");
    if (r->net) env_network(r);
    /* A pidfd (to kill this process, and with it the environment, once the runtime has
     * exited) and the namespaces to join, the user namespace first. Descriptors of its
     * own namespaces: a pidfd's setns would ask for ptrace access to this process, which
     * nothing of the zygote's has. */
    static const char *const kinds[] = {"user", "mnt", "pid", "ipc", "uts", "cgroup", "net"};
    int out[8], n_out = 0;
    if ((out[n_out++] = (int)syscall(SYS_pidfd_open, getpid(), 0)) < 0) env_fail(r, "pidfd_open");
    for (int i = 0; i < 7; i++) {
        if (i == 6 && !r->net) break;
        char ns_path[64];
        snprintf(ns_path, sizeof ns_path, "/proc/self/ns/%s", kinds[i]);
        if ((out[n_out++] = open(ns_path, O_RDONLY | O_CLOEXEC)) < 0) env_fail(r, ns_path);
    }
    if (send_fds(r->ns_sock, "ok", out, n_out) < 0) _exit(JAIL_FAILED);
    for (int i = 0; i < n_out; i++) close(out[i]);
    close(r->ns_sock);
    /* What the environment reads in /proc/1/cmdline. */
    memset(args_start, 0, (size_t)(args_end - args_start));
    snprintf(args_start, (size_t)(args_end - args_start) + 1, "lamina-zygote-init");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) _exit(JAIL_FAILED);
    install_filter(0);
    /* Reap orphans (SIGCHLD is blocked, inherited from init) until killed: by the zygote's
     * fork once the runtime has exited, or with the environment's cgroup. */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    for (;;) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {}
        sigwaitinfo(&chld, NULL);
    }
}

static void close_request(int *fds, int n) {
    for (int i = 0; i < n; i++) close(fds[i]);
}

/* Init back in the zygote's own groups, after a clone made from an environment's. If that
 * failed, init would stay in the environment's group and die with it (and the zygote with
 * init): better now, loudly. */
static void go_home(void) {
    for (int i = 0; i < n_cgroups; i++)
        if (write(home_cg[i], "0\n", 2) != 2) die("return to the zygote's cgroup", cgroups[i]);
}

/* Clone the environment's pid 1 and write its maps; 0, or the errno of what failed.
 *
 * Init does both from inside the environment's groups: it writes 0 (itself) into their
 * `tasks` (v1, this thread) or `cgroup.procs` (v2), clones, writes the maps, and returns to
 * the zygote's groups. A task is born in its parent's groups, and the kernel charges what
 * a clone allocates (the task, its kernel stack, page tables, the new namespaces: the user
 * namespace, a copy of the zygote's mount table, a network namespace) to the group the
 * cloning task is in when it does so; cgroup v1 never moves a charge afterwards. Made from
 * the zygote's group, that kernel memory (~0.3 MB a fork, measured with
 * `python -m bench.zygote_charge`) stayed there for the environment's life. */
static int make_env_for(struct env_request *r) {
    int sync[2];
    if (pipe2(sync, O_CLOEXEC) < 0) return errno;
    for (int i = 0; i < r->n_cg; i++) {
        if (write(r->cg_fds[i], "0\n", 2) != 2) {
            int err = errno ? errno : EIO;
            go_home();
            close(sync[0]);
            close(sync[1]);
            return err;
        }
    }
    /* The new user namespace's owner is the effective uid at the clone: the sandbox user. */
    long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
                 (r->net ? CLONE_NEWNET : 0) | SIGCHLD;
    pid_t pid = -1;
    int err = 0;
    if (seteuid((uid_t)uid) == 0) {
        pid = (pid_t)syscall(SYS_clone, flags, 0, 0, 0, 0);
        err = errno;
        if (pid != 0 && seteuid(0) < 0) die("seteuid", "0");
    } else {
        err = errno;
    }
    if (pid == 0) env_init(r, sync[0]);
    close(sync[0]);
    if (pid < 0) {
        go_home();
        close(sync[1]);
        return err;
    }
    char path[64], map[64];
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    snprintf(map, sizeof map, "%ld %ld 1", uid, uid);
    int ok = put(path, "setgroups", "deny") == 0 && put(path, "uid_map", map) == 0;
    snprintf(map, sizeof map, "%ld %ld 1", gid, gid);
    ok = ok && put(path, "gid_map", map) == 0;
    /* Home after the maps (the user namespace's extents are the environment's too) and
     * before the child may go on: nothing of the environment can start, hence no kill of
     * its group can come, while init is in it. */
    go_home();
    ok = ok && write(sync[1], "1", 1) == 1;
    err = ok ? 0 : errno ? errno : EIO;
    if (!ok) kill(pid, SIGKILL);  /* reaped by the loop like any child */
    close(sync[1]);
    return err;
}

/* One request from the server on the maker socket (see above). */
static void make_env(void) {
    char buf[512], cbuf[CMSG_SPACE(sizeof(int) * MAKER_MAX_FDS)];
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf - 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                         .msg_controllen = sizeof cbuf};
    ssize_t got = recvmsg((int)maker_fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (got <= 0) {
        if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
            close((int)maker_fd);  /* the server is gone: only the runtime is left to wait for */
            maker_fd = -1;
        }
        return;
    }
    buf[got] = 0;
    int fds[MAKER_MAX_FDS], nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k && nfds < MAKER_MAX_FDS; i++) memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
    struct env_request r = {.tmp_mb = tmp_mb, .ns_sock = -1, .net_sock = -1, .vol_fd = -1};
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (sscanf(tok, "tmp_mb=%ld", &r.tmp_mb) == 1 || sscanf(tok, "net=%d", &r.net) == 1 ||
            sscanf(tok, "vol=%d", &r.vol) == 1 || sscanf(tok, "api_port=%ld", &r.api_port) == 1)
            continue;
    }
    int at = 0;
    if (nfds < 1 + r.net + r.vol || (msg.msg_flags & MSG_CTRUNC)) {
        fprintf(stderr, "lamina-jail: a malformed environment request (%d descriptors)\n", nfds);
        close_request(fds, nfds);
        return;
    }
    r.ns_sock = fds[at++];
    if (r.net) r.net_sock = fds[at++];
    if (r.vol) r.vol_fd = fds[at++];
    for (; at < nfds; at++) r.cg_fds[r.n_cg++] = fds[at];
    int err = make_env_for(&r);
    if (err != 0) {
        char text[256];
        snprintf(text, sizeof text, "error make the environment's namespaces: %s", strerror(err));
        send_fds(r.ns_sock, text, NULL, 0);
    }
    close_request(fds, nfds);
}

/* Init of a zygote's jail: wait for the runtime (the zygote) as run_init does, reaping
 * every other child (environments' inits, orphans), and serve the maker socket. */
static int serve_makers(pid_t runtime) {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0) die("sigprocmask", NULL);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) die("signalfd", NULL);
    /* Every environment's init is a fork of this process: no supplementary groups, and
     * not dumpable from the first instruction. */
    if (setgroups(0, NULL) < 0) die("setgroups", NULL);
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) die("prctl", "DUMPABLE");
    for (;;) {
        int status;
        pid_t got;
        while ((got = waitpid(-1, &status, WNOHANG)) > 0)
            if (got == runtime)
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        struct pollfd p[2] = {{sfd, POLLIN, 0}, {(int)maker_fd, POLLIN, 0}};
        if (poll(p, maker_fd >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR) continue;
            die("poll", NULL);
        }
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) > 0) {}
        }
        if (maker_fd >= 0 && p[1].revents) make_env();
    }
}


static int run_init(void) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) die("prctl", "PDEATHSIG");
    trace("init-forked");
    if (template_fd >= 0) attach_to_template(); else build_mounts();
    if (sethostname(hostname, strlen(hostname)) < 0) die("sethostname", hostname);
    pid_t runtime = fork();
    if (runtime < 0) die("fork", "runtime");
    if (runtime == 0) become_runtime();
    trace("runtime-forked");
    if (trace_fd >= 0) close((int)trace_fd);
    memset(args_start, 0, (size_t)(args_end - args_start));
    snprintf(args_start, (size_t)(args_end - args_start) + 1, "lamina-init");
    install_forwarding(runtime);
    return maker_fd >= 0 ? serve_makers(runtime) : wait_for(runtime);
}

/* Write `text` into `dir`/`name` if that file exists; returns 0 when written. */
static int put(const char *dir, const char *name, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n < 0 ? -1 : 0;
}

/* SIGKILL every process of one group and thaw it; returns how many were still there. */
static int kill_group(const char *dir) {
    char path[4096], buf[64];
    int left = 0;
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    FILE *f = fopen(path, "re");
    if (f != NULL) {
        while (fgets(buf, sizeof buf, f) != NULL) {
            long pid = strtol(buf, NULL, 10);
            if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0) left++;
        }
        fclose(f);
    }
    put(dir, "cgroup.kill", "1");         /* v2 */
    put(dir, "freezer.state", "THAWED");  /* v1: a frozen task acts on SIGKILL once thawed */
    put(dir, "cgroup.freeze", "0");       /* v2 */
    return left;
}

/* Detach every mount under the volumes directory, then delete the images and mount points
 * (the loop devices go with their last mount). */
static void remove_volumes(void) {
    size_t len = strlen(volumes_dir);
    FILE *m = setmntent("/proc/self/mounts", "re");
    if (m != NULL) {
        struct mntent *e;
        while ((e = getmntent(m)) != NULL)
            if (strncmp(e->mnt_dir, volumes_dir, len) == 0 && e->mnt_dir[len] == '/')
                umount2(e->mnt_dir, MNT_DETACH);
        endmntent(m);
    }
    DIR *d = opendir(volumes_dir);
    if (d == NULL) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", volumes_dir, e->d_name);
        if (e->d_type == DT_DIR) rmdir(path); else unlink(path);
    }
    closedir(d);
}

static int watchdog(void) {
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    char b[64];
    for (;;) {
        ssize_t n = read(0, b, sizeof b);
        if (n == 0 || (n < 0 && errno != EINTR)) break;
    }
    for (int round = 0; round < 200; round++) {
        int left = 0;
        for (int r = 0; r < n_watch; r++) {
            DIR *d = opendir(watch_roots[r]);
            if (d == NULL) continue;
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
                char dir[2048];
                snprintf(dir, sizeof dir, "%s/%s", watch_roots[r], e->d_name);
                left += kill_group(dir);
                if (rmdir(dir) < 0 && errno == EBUSY) left++;
            }
            closedir(d);
        }
        if (left == 0) break;
        usleep(10000);
    }
    for (int r = 0; r < n_watch; r++) rmdir(watch_roots[r]);
    if (volumes_dir != NULL) remove_volumes();
    if (nft_path != NULL && nft_table != NULL) {
        pid_t pid = fork();
        if (pid == 0) {
            /* Quiet: after a clean shutdown the server has removed the table already. */
            int null = open("/dev/null", O_WRONLY);
            if (null >= 0) { dup2(null, 1); dup2(null, 2); }
            execl(nft_path, nft_path, "delete", "table", "inet", nft_table, (char *)NULL);
            _exit(127);
        }
        if (pid > 0) waitpid(pid, NULL, 0);
    }
    return 0;
}

int main(int argc, char **argv) {
    parse(argc, argv);
    /* The argv strings are contiguous in the process's memory. */
    args_start = argv[0];
    args_end = argv[argc - 1] + strlen(argv[argc - 1]);
    if (n_watch > 0) return watchdog();
    if (dump_kind != NULL) return dump_filter();
    if (template_mode) return make_template();
    if (parent_pid > 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) die("prctl", "PDEATHSIG");
        if (getppid() != (pid_t)parent_pid) _exit(JAIL_FAILED);
    }
    umask(022);
    trace("jail-started");
    /* Join the cgroups before anything else so every process is accounted from the start. */
    join_cgroups();
    trace("cgroups-joined");
    if (netns_fd >= 0) {
        if (setns((int)netns_fd, CLONE_NEWNET) < 0) die("join network namespace", NULL);
        close((int)netns_fd);
        trace("netns-joined");
    }
    if (template_fd >= 0) {
        clone_sources();
        if (setns((int)template_fd, CLONE_NEWNS) < 0) die("join the root template", NULL);
        close((int)template_fd);
        trace("template-joined");
    }
    if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP) < 0)
        die("unshare", NULL);
    trace("unshared");
    pid_t init = fork();
    if (init < 0) die("fork", "init");
    if (init == 0) _exit(run_init());
    if (trace_fd >= 0) close((int)trace_fd);
    if (maker_fd >= 0) close((int)maker_fd);  /* init's alone */
    install_forwarding(init);
    return wait_for(init);
}
