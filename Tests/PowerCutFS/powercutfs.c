/*
 * powercutfs: an in-memory FUSE filesystem that loses, on a simulated power cut, exactly what a
 * real disk may lose: everything that was not made durable with fsync.
 *
 * Each file has two contents: the live one (what reads see) and the durable one (what fsync or
 * fdatasync last copied from live). Each directory has two sets of names: the live one and the
 * durable one (what fsync of the directory last copied). A new, renamed or removed name is
 * therefore durable only once its directory has been fsync'ed, as POSIX requires; a file's data
 * only once the file has been.
 *
 * Control: writing to the virtual file `/.powercut`
 *   "cut"  — the power fails: every file and directory reverts to its durable state;
 *   "sync" — everything becomes durable (like sync(1) followed by a directory fsync everywhere).
 * The write returns once the state has changed, so a test needs no sleeps. Kill every process
 * that uses the filesystem before a cut: their open files refer to the state before it.
 *
 * Run single-threaded (-s) in the foreground (-f). It prints "ready" on stdout once mounted.
 * Nodes are never freed (a test tool: memory grows with what the test writes).
 */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct node;

struct entry {
    char *name;
    struct node *node;
};

struct names {
    struct entry *items;
    size_t count, capacity;
};

struct content {
    char *bytes;
    size_t size, capacity;
};

struct node {
    mode_t mode;
    uid_t uid;
    gid_t gid;
    struct timespec mtime;
    struct content live, durable;  /* regular files */
    struct names live_names, durable_names;  /* directories */
};

static struct node *root;
static const char *control_name = ".powercut";
static unsigned long cuts;

/* ---- small helpers ---- */

static void *checked(void *pointer) {
    if (!pointer) {
        fprintf(stderr, "powercutfs: out of memory\n");
        abort();
    }
    return pointer;
}

static struct node *new_node(mode_t mode, int from_request) {
    struct node *node = checked(calloc(1, sizeof *node));
    struct fuse_context *context = from_request ? fuse_get_context() : NULL;
    node->mode = mode;
    node->uid = context ? context->uid : getuid();
    node->gid = context ? context->gid : getgid();
    clock_gettime(CLOCK_REALTIME, &node->mtime);
    return node;
}

static void content_reserve(struct content *content, size_t size) {
    if (size <= content->capacity) return;
    size_t capacity = content->capacity ? content->capacity : 4096;
    while (capacity < size) capacity *= 2;
    content->bytes = checked(realloc(content->bytes, capacity));
    content->capacity = capacity;
}

static void content_resize(struct content *content, size_t size) {
    content_reserve(content, size);
    if (size > content->size) memset(content->bytes + content->size, 0, size - content->size);
    content->size = size;
}

static void content_copy(struct content *target, const struct content *source) {
    content_reserve(target, source->size);
    if (source->size) memcpy(target->bytes, source->bytes, source->size);
    target->size = source->size;
}

static void names_copy(struct names *target, const struct names *source) {
    for (size_t i = 0; i < target->count; i++) free(target->items[i].name);
    target->count = 0;
    if (source->count > target->capacity) {
        target->items = checked(realloc(target->items, source->count * sizeof *target->items));
        target->capacity = source->count;
    }
    for (size_t i = 0; i < source->count; i++) {
        target->items[i].name = checked(strdup(source->items[i].name));
        target->items[i].node = source->items[i].node;
    }
    target->count = source->count;
}

static struct entry *names_find(struct names *names, const char *name, size_t length) {
    for (size_t i = 0; i < names->count; i++) {
        if (strlen(names->items[i].name) == length && memcmp(names->items[i].name, name, length) == 0) {
            return &names->items[i];
        }
    }
    return NULL;
}

static void names_add(struct names *names, const char *name, struct node *node) {
    if (names->count == names->capacity) {
        names->capacity = names->capacity ? names->capacity * 2 : 8;
        names->items = checked(realloc(names->items, names->capacity * sizeof *names->items));
    }
    names->items[names->count].name = checked(strdup(name));
    names->items[names->count].node = node;
    names->count++;
}

static void names_remove(struct names *names, struct entry *entry) {
    free(entry->name);
    *entry = names->items[names->count - 1];
    names->count--;
}

static int is_dir(const struct node *node) { return S_ISDIR(node->mode); }

static int is_control(const char *path) { return path && path[0] == '/' && strcmp(path + 1, control_name) == 0; }

/* The node at `path` in the live tree, or NULL. */
static struct node *resolve(const char *path) {
    struct node *node = root;
    const char *cursor = path;
    while (*cursor) {
        while (*cursor == '/') cursor++;
        if (!*cursor) break;
        const char *end = strchr(cursor, '/');
        size_t length = end ? (size_t)(end - cursor) : strlen(cursor);
        if (!is_dir(node)) return NULL;
        struct entry *entry = names_find(&node->live_names, cursor, length);
        if (!entry) return NULL;
        node = entry->node;
        cursor += length;
    }
    return node;
}

/* The directory holding `path` and the last component's name (in `name`, at most NAME_MAX). */
static struct node *resolve_parent(const char *path, char *name) {
    const char *slash = strrchr(path, '/');
    if (!slash || strlen(slash + 1) == 0 || strlen(slash + 1) > 255) return NULL;
    strcpy(name, slash + 1);
    size_t length = (size_t)(slash - path);
    char *parent_path = checked(strndup(path, length ? length : 1));
    struct node *parent = resolve(parent_path);
    free(parent_path);
    return parent && is_dir(parent) ? parent : NULL;
}

/* The handle of the control file; every other handle is a node's address. */
#define CONTROL_HANDLE 1

static struct node *handle_or_path(const char *path, struct fuse_file_info *info) {
    if (info && info->fh > CONTROL_HANDLE) return (struct node *)(uintptr_t)info->fh;
    return path ? resolve(path) : NULL;
}

/* ---- power: durable state ---- */

static void make_durable(struct node *node) {
    if (is_dir(node)) {
        names_copy(&node->durable_names, &node->live_names);
        for (size_t i = 0; i < node->live_names.count; i++) make_durable(node->live_names.items[i].node);
    } else {
        content_copy(&node->durable, &node->live);
    }
}

static void revert(struct node *node) {
    if (is_dir(node)) {
        names_copy(&node->live_names, &node->durable_names);
        for (size_t i = 0; i < node->durable_names.count; i++) revert(node->durable_names.items[i].node);
    } else {
        content_copy(&node->live, &node->durable);
    }
}

/* ---- FUSE operations ---- */

static void *op_init(struct fuse_conn_info *connection, struct fuse_config *config) {
    (void)connection;
    config->use_ino = 0;
    config->hard_remove = 1;  /* an unlinked open file stays reachable through its handle */
    config->nullpath_ok = 1;
    config->entry_timeout = 0;
    config->attr_timeout = 0;
    config->negative_timeout = 0;
    config->kernel_cache = 0;  /* page cache dropped on every open: no stale data after a cut */
    printf("ready\n");
    fflush(stdout);
    return NULL;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *info) {
    memset(st, 0, sizeof *st);
    if (is_control(path)) {
        st->st_mode = S_IFREG | 0600;
        st->st_nlink = 1;
        st->st_uid = getuid();
        st->st_gid = getgid();
        return 0;
    }
    struct node *node = handle_or_path(path, info);
    if (!node) return -ENOENT;
    st->st_mode = node->mode;
    st->st_nlink = is_dir(node) ? 2 : 1;
    st->st_uid = node->uid;
    st->st_gid = node->gid;
    st->st_size = is_dir(node) ? 4096 : (off_t)node->live.size;
    st->st_blksize = 4096;
    st->st_blocks = (st->st_size + 511) / 512;
    st->st_mtim = st->st_ctim = st->st_atim = node->mtime;
    return 0;
}

static int op_readdir(
    const char *path, void *buffer, fuse_fill_dir_t fill, off_t offset, struct fuse_file_info *info,
    enum fuse_readdir_flags flags) {
    (void)offset;
    (void)flags;
    struct node *node = handle_or_path(path, info);
    if (!node || !is_dir(node)) return -ENOTDIR;
    fill(buffer, ".", NULL, 0, 0);
    fill(buffer, "..", NULL, 0, 0);
    for (size_t i = 0; i < node->live_names.count; i++) fill(buffer, node->live_names.items[i].name, NULL, 0, 0);
    return 0;
}

static int op_opendir(const char *path, struct fuse_file_info *info) {
    struct node *node = resolve(path);
    if (!node) return -ENOENT;
    if (!is_dir(node)) return -ENOTDIR;
    info->fh = (uintptr_t)node;
    return 0;
}

static int add_node(const char *path, mode_t mode, struct node **created) {
    char name[256];
    struct node *parent = resolve_parent(path, name);
    if (!parent) return -ENOENT;
    if (names_find(&parent->live_names, name, strlen(name))) return -EEXIST;
    struct node *node = new_node(mode, 1);
    names_add(&parent->live_names, name, node);
    clock_gettime(CLOCK_REALTIME, &parent->mtime);
    if (created) *created = node;
    return 0;
}

static int op_mkdir(const char *path, mode_t mode) { return add_node(path, S_IFDIR | (mode & 07777), NULL); }

static int op_mknod(const char *path, mode_t mode, dev_t device) {
    (void)device;
    if (!S_ISREG(mode)) return -EPERM;
    return add_node(path, mode, NULL);
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *info) {
    if (is_control(path)) return -EEXIST;
    struct node *node;
    int result = add_node(path, S_IFREG | (mode & 07777), &node);
    if (result == 0) info->fh = (uintptr_t)node;
    return result;
}

static int op_open(const char *path, struct fuse_file_info *info) {
    if (is_control(path)) {
        info->fh = CONTROL_HANDLE;
        info->direct_io = 1;
        return 0;
    }
    struct node *node = resolve(path);
    if (!node) return -ENOENT;
    if (is_dir(node)) return -EISDIR;
    if (info->flags & O_TRUNC) content_resize(&node->live, 0);
    info->fh = (uintptr_t)node;
    return 0;
}

static int op_read(const char *path, char *buffer, size_t size, off_t offset, struct fuse_file_info *info) {
    if (info && info->fh == CONTROL_HANDLE) return 0;
    struct node *node = handle_or_path(path, info);
    if (!node) return -ENOENT;
    if ((size_t)offset >= node->live.size) return 0;
    size_t available = node->live.size - (size_t)offset;
    size_t count = size < available ? size : available;
    memcpy(buffer, node->live.bytes + offset, count);
    return (int)count;
}

static int control(const char *command, size_t size) {
    if (size >= 3 && memcmp(command, "cut", 3) == 0) {
        revert(root);
        cuts++;
        fprintf(stderr, "powercutfs: power cut %lu\n", cuts);
        return 0;
    }
    if (size >= 4 && memcmp(command, "sync", 4) == 0) {
        make_durable(root);
        return 0;
    }
    return -EINVAL;
}

static int op_write(const char *path, const char *buffer, size_t size, off_t offset, struct fuse_file_info *info) {
    if (info && info->fh == CONTROL_HANDLE) {
        int result = control(buffer, size);
        return result ? result : (int)size;
    }
    struct node *node = handle_or_path(path, info);
    if (!node) return -ENOENT;
    size_t end = (size_t)offset + size;
    if (end > node->live.size) content_resize(&node->live, end);
    memcpy(node->live.bytes + offset, buffer, size);
    clock_gettime(CLOCK_REALTIME, &node->mtime);
    return (int)size;
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *info) {
    if (is_control(path)) return 0;
    struct node *node = handle_or_path(path, info);
    if (!node) return -ENOENT;
    if (is_dir(node)) return -EISDIR;
    content_resize(&node->live, (size_t)size);
    clock_gettime(CLOCK_REALTIME, &node->mtime);
    return 0;
}

static int op_fallocate(const char *path, int mode, off_t offset, off_t length, struct fuse_file_info *info) {
    if (mode != 0) return -EOPNOTSUPP;
    struct node *node = handle_or_path(path, info);
    if (!node) return -ENOENT;
    size_t end = (size_t)(offset + length);
    if (end > node->live.size) content_resize(&node->live, end);
    return 0;
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *info) {
    (void)datasync;
    if (is_control(path)) return 0;
    struct node *node = handle_or_path(path, info);
    if (!node) return -ENOENT;
    if (is_dir(node)) names_copy(&node->durable_names, &node->live_names);
    else content_copy(&node->durable, &node->live);
    return 0;
}

static int op_fsyncdir(const char *path, int datasync, struct fuse_file_info *info) {
    (void)datasync;
    struct node *node = handle_or_path(path, info);
    if (!node || !is_dir(node)) return -ENOTDIR;
    names_copy(&node->durable_names, &node->live_names);
    return 0;
}

static int op_unlink(const char *path) {
    char name[256];
    struct node *parent = resolve_parent(path, name);
    if (!parent) return -ENOENT;
    struct entry *entry = names_find(&parent->live_names, name, strlen(name));
    if (!entry) return -ENOENT;
    if (is_dir(entry->node)) return -EISDIR;
    names_remove(&parent->live_names, entry);
    return 0;
}

static int op_rmdir(const char *path) {
    char name[256];
    struct node *parent = resolve_parent(path, name);
    if (!parent) return -ENOENT;
    struct entry *entry = names_find(&parent->live_names, name, strlen(name));
    if (!entry) return -ENOENT;
    if (!is_dir(entry->node)) return -ENOTDIR;
    if (entry->node->live_names.count) return -ENOTEMPTY;
    names_remove(&parent->live_names, entry);
    return 0;
}

static int op_rename(const char *from, const char *to, unsigned int flags) {
    if (flags) return -EINVAL;
    char from_name[256], to_name[256];
    struct node *from_parent = resolve_parent(from, from_name);
    struct node *to_parent = resolve_parent(to, to_name);
    if (!from_parent || !to_parent) return -ENOENT;
    struct entry *source = names_find(&from_parent->live_names, from_name, strlen(from_name));
    if (!source) return -ENOENT;
    struct node *moving = source->node;
    struct entry *existing = names_find(&to_parent->live_names, to_name, strlen(to_name));
    if (existing) {
        if (existing->node == moving) return 0;
        if (is_dir(existing->node) && existing->node->live_names.count) return -ENOTEMPTY;
        existing->node = moving;
    } else {
        names_add(&to_parent->live_names, to_name, moving);
    }
    /* `source` may have moved if names_add grew the same array: look it up again. */
    source = names_find(&from_parent->live_names, from_name, strlen(from_name));
    if (source && source->node == moving) names_remove(&from_parent->live_names, source);
    return 0;
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *info) {
    struct node *node = handle_or_path(path, info);
    if (!node) return is_control(path) ? 0 : -ENOENT;
    node->mode = (node->mode & S_IFMT) | (mode & 07777);
    return 0;
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *info) {
    struct node *node = handle_or_path(path, info);
    if (!node) return is_control(path) ? 0 : -ENOENT;
    if (uid != (uid_t)-1) node->uid = uid;
    if (gid != (gid_t)-1) node->gid = gid;
    return 0;
}

static int op_utimens(const char *path, const struct timespec times[2], struct fuse_file_info *info) {
    struct node *node = handle_or_path(path, info);
    if (!node) return is_control(path) ? 0 : -ENOENT;
    if (times) node->mtime = times[1];
    else clock_gettime(CLOCK_REALTIME, &node->mtime);
    return 0;
}

static int op_statfs(const char *path, struct statvfs *st) {
    (void)path;
    memset(st, 0, sizeof *st);
    st->f_bsize = st->f_frsize = 4096;
    st->f_blocks = st->f_bfree = st->f_bavail = 1 << 20;
    st->f_files = st->f_ffree = 1 << 20;
    st->f_namemax = 255;
    return 0;
}

static const struct fuse_operations operations = {
    .init = op_init,
    .getattr = op_getattr,
    .readdir = op_readdir,
    .opendir = op_opendir,
    .mkdir = op_mkdir,
    .mknod = op_mknod,
    .create = op_create,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .truncate = op_truncate,
    .fallocate = op_fallocate,
    .fsync = op_fsync,
    .fsyncdir = op_fsyncdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .rename = op_rename,
    .chmod = op_chmod,
    .chown = op_chown,
    .utimens = op_utimens,
    .statfs = op_statfs,
};

int main(int argc, char *argv[]) {
    root = new_node(S_IFDIR | 0755, 0);
    return fuse_main(argc, argv, &operations, NULL);
}
