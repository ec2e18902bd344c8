// SPDX-License-Identifier: GPL-2.0
/* Vigil's kernel sensor: CO-RE programs, one per event, that write the records of records.h into
 * one BPF ring buffer. tp_btf programs (BTF-typed raw tracepoints) and per-syscall exit
 * tracepoints (tracepoint/syscalls/sys_exit_X, or raw sys_exit as their fallback; the arguments
 * come from the task's saved registers): no kprobes, fentry or LSM.
 *   process  tp_btf/sched_process_exec, sched_process_fork, sched_process_exit (a vfork-style
 *            child's fork is held and folded into its exec: processes)
 *   network  tp_btf/inet_sock_set_state (outbound TCP), sys_exit accept/accept4 (inbound TCP),
 *            tp_btf/sock_send_length (UDP flows, DNS queries; kernels before 6.3: sys_exit
 *            sendto/sendmsg/sendmmsg)
 *   dns      tp_btf/sock_send_length, sock_recv_length on port 53 (payload; before 6.3: sys_exit
 *            send*, recvfrom/recvmsg)
 *   file     sys_exit open, openat, openat2, creat, rename(at)(2), unlink(at), (f)chmod(at)(2)
 *   module   sys_exit init_module/finit_module (failed attempts too)
 * The agent's own process is skipped everywhere (self_tgid). Ring-buffer failures are counted per
 * CPU in `counters` (with the wake-ups the programs forced). See docs/sensor.md. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "records.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load. */
const volatile __u32 self_tgid = 0;
const volatile __u8 file_filter = 1; /* 0: report every path */
const volatile __u64 udp_window_ns = 60000000000ull;
const volatile __u64 wakeup_bytes = 0; /* 0: the ring's own rule (wake a reader that caught up) */
const volatile __u8 socket_layer = 0;  /* 1: sends and receives from sock_*_length, not syscalls */

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define AT_FDCWD -100
#define MSG_PEEK 2
/* x86-64's TS_COMPAT in thread_info.status: the syscall in progress is a 32-bit one (ia32
 * emulation: a 32-bit program, or int 0x80), whose numbers and registers mean something else (ia32
 * readlink is 85, x86-64's creat). Not followed: the per-syscall tracepoints never see them either
 * (docs/sensor.md, "Not seen"). */
#define TS_COMPAT 0x0002
#define PF_IO_WORKER 0x00000010
#define PF_KTHREAD 0x00200000
#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_TRUNC 01000
#define FMODE_CREATED (1u << 20)
#define CLONE_VFORK 0x00004000
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7
#define USER_HZ_DIV 10000000ull /* NSEC_PER_SEC / USER_HZ (100) */

/* x86_64 syscall numbers. */
#define NR_read 0
#define NR_write 1
#define NR_open 2
#define NR_readv 19
#define NR_writev 20
#define NR_clone 56
#define NR_vfork 58
#define NR_connect 42
#define NR_accept 43
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_rename 82
#define NR_creat 85
#define NR_unlink 87
#define NR_chmod 90
#define NR_fchmod 91
#define NR_init_module 175
#define NR_openat 257
#define NR_unlinkat 263
#define NR_renameat 264
#define NR_fchmodat 268
#define NR_accept4 288
#define NR_sendmmsg 307
#define NR_finit_module 313
#define NR_renameat2 316
#define NR_clone3 435
#define NR_openat2 437
#define NR_fchmodat2 452

#define PATH_DEPTH 32 /* path components kept (deeper paths keep their last 32) */
#define NAME_CAP 256

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 16 << 20); /* resized by user space */
} events SEC(".maps");

/* Per-CPU counters, by index: VG_COUNT_DROPS (records the ring had no room for) and
 * VG_COUNT_WAKEUPS (records that woke the reader). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, VG_COUNTERS);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

/* Scratch space, per CPU: process-context programs only (they do not nest on a CPU). */
struct pathbuf {
  __u64 off; /* kept here, not on the stack: the verifier treats it as unknown, so bpf_loop */
  __u64 n;   /* callbacks converge at once instead of being explored per value */
  const unsigned char* names[PATH_DEPTH];
  char buf[VG_PATH_CAP * 2];
};
union scratch {
  struct vg_exec exec;
  struct vg_file file;
  struct vg_module module;
  struct vg_dns dns;
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, union scratch);
} scratch_map SEC(".maps");
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, struct pathbuf);
} path_map SEC(".maps");

/* Path prefixes the file events are limited to (user space fills it). */
struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 256);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct vg_prefix_key);
  __type(value, __u8);
} prefixes SEC(".maps");

/* Outbound TCP connects between SYN_SENT and ESTABLISHED/CLOSE: sock -> who connected. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, struct vg_hdr);
} connecting SEC(".maps");

/* UDP rate limit: (tgid, destination) -> last report (boot ns). */
struct udp_key {
  __u32 tgid;
  __u16 family, dport;
  __u8 daddr[16];
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct udp_key);
  __type(value, __u64);
} udp_seen SEC(".maps");

/* Sockets that sent a DNS query without being connected: sock -> the query's tuple, so that the
 * answer read with recvfrom(..., NULL) is known to come from the server. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, __u64);
  __type(value, struct vg_net_tuple);
} dns_socks SEC(".maps");

/* A syscall's number and first five arguments, read at its exit from the task's saved user
 * registers (x86-64: di, si, dx, r10, r8): they still hold what the task passed, so no program runs
 * at any syscall's enter. With no sys_enter program attached the kernel leaves the sys_enter
 * tracepoint off, and every syscall of the host skips its perf plumbing (docs/sensor.md). */
struct sys_call {
  __u64 nr;
  __u64 args[5];
};

static __always_inline void read_call(struct sys_call* c, __u64 nr, struct pt_regs* regs) {
  c->nr = nr;
  c->args[0] = regs->di;
  c->args[1] = regs->si;
  c->args[2] = regs->dx;
  c->args[3] = regs->r10;
  c->args[4] = regs->r8;
}

/* A process, for the map below: its id and its leader's start time, so that an entry left behind (a
 * process whose exit the sensor did not see, paused) never stands for a later process with the
 * same id. The same for every thread of the process, and through an exec by a thread that is not
 * the leader (the exec gives it the leader's id and start time). */
struct process_key {
  __u32 tgid;
  __u32 pad;
  __u64 start_ns;
};

/* Per process that a record reported (one entry for all its threads, as the agent keeps one
 * process's last paths):
 * - the executable and working directory its last exec or fork record reported, as kernel
 *   pointers. A fork whose child has the same ones leaves its paths out (VG_FORK_IMAGE_OF_PARENT),
 *   an exec in the same working directory leaves that out (VG_EXEC_CWD_AS_REPORTED), instead of
 *   walking them again: a fork was ~3.5 us, mostly the two walks. The agent keeps the paths of
 *   each process's last record.
 * - for a vfork-style child (posix_spawn, vfork) of a parent whose image was reported, its
 *   (compact) fork record, held instead of sent: its exec folds it (VG_EXEC_FORK_FOLDED), anything
 *   else reported about it first (or its exit) sends it (report_held_fork).
 * An entry goes with its process's exit (its last thread's). A preallocated LRU hash, not task
 * storage: making and freeing the task storage of every new process (allocation, memory-cgroup
 * charge, RCU) cost each spawn more than a few lookups. A full map forgets the least recently used
 * process: its next record carries its paths again (a held fork forgotten so, the exec comes
 * without it). */
struct image {
  __u64 exe;     /* struct file* */
  __u64 cwd;     /* struct dentry* */
  __u64 cwd_mnt; /* struct vfsmount* */
};
struct process_state {
  struct image reported;
  __u32 fork_held; /* 1: fork_record is this process's fork, not sent yet */
  __u32 pad;
  char fork_record[136]; /* compact (VG_FORK_IMAGE_OF_PARENT): vg_exec without data */
};
_Static_assert(sizeof(((struct process_state*)0)->fork_record) ==
                   __builtin_offsetof(struct vg_exec, data),
               "fork_record holds a vg_exec's fixed part");
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 8192);
  __type(key, struct process_key);
  __type(value, struct process_state);
} processes SEC(".maps");

/* ------------------------------------------------------------------ helpers */

static __always_inline void count(__u32 index) {
  __u64* n = bpf_map_lookup_elem(&counters, &index);
  if (n) __sync_fetch_and_add(n, 1);
}

/* The reader is woken once per wakeup_bytes of waiting data: by the record that takes the waiting
 * amount past a multiple of it (+ 8: the ring's record header). Not by every record past the first
 * multiple: while the reader is busy or not scheduled, that was an interrupt (irq_work) per record
 * in the traced program. Two CPUs crossing a multiple together can both miss it; the next multiple
 * (or the reader's timed read) wakes it then. */
static __always_inline __u64 wake_flags(__u64 size) {
  if (wakeup_bytes == 0) return 0;
  __u64 waiting = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
  if (waiting / wakeup_bytes == (waiting + size + 8) / wakeup_bytes) return BPF_RB_NO_WAKEUP;
  count(VG_COUNT_WAKEUPS);
  return BPF_RB_FORCE_WAKEUP;
}

/* Returns 0 when the record is in the ring. */
static __always_inline long output(void* rec, __u64 size) {
  long err = bpf_ringbuf_output(&events, rec, size, wake_flags(size));
  if (err) count(VG_COUNT_DROPS);
  return err;
}

static __always_inline struct process_key process_key(struct task_struct* t) {
  struct process_key key = {.tgid = t->tgid, .start_ns = t->group_leader->start_time};
  return key;
}

/* Sends the held-back fork record of the process whose state `st` is (0: none), if it has one: it
 * must precede any other record about that process. */
static __always_inline void send_held_fork(struct process_state* st) {
  if (!st || !st->fork_held) return;
  st->fork_held = 0;
  output(st->fork_record, sizeof st->fork_record);
}

static __always_inline struct process_state* process_state_of(struct task_struct* t) {
  struct process_key key = process_key(t);
  return bpf_map_lookup_elem(&processes, &key);
}

static __always_inline void report_held_fork(struct task_struct* t) {
  send_held_fork(process_state_of(t));
}

/* A record about the current task, from its own context (a syscall's exit, its exit). */
static __always_inline long output_own(void* rec, __u64 size) {
  report_held_fork(bpf_get_current_task_btf());
  return output(rec, size);
}

/* off & mask, done in a way clang cannot drop: the verifier needs to see the bound. */
#define BOUND(off, mask)                      \
  ({                                          \
    __u64 __v = (off);                        \
    asm volatile("%0 &= " #mask : "+r"(__v)); \
    __v;                                      \
  })

static __always_inline __u64 ticks(__u64 ns) { return ns / USER_HZ_DIV; }

/* Direct loads through the task's BTF-typed pointers (CO-RE relocated, a faulting load reads 0):
 * a helper call per field (BPF_CORE_READ) made this a third of the exit program's time. */
static __always_inline void fill_proc(struct vg_proc* p, struct task_struct* t) {
  struct task_struct* leader = t->group_leader;
  struct task_struct* parent = t->real_parent;
  const struct cred* cred = t->real_cred;
  p->tgid = t->tgid;
  p->tid = t->pid;
  p->ppid = parent->tgid;
  p->start_ticks = ticks(leader->start_boottime);
  p->parent_start_ticks = ticks(parent->group_leader->start_boottime);
  p->uid = cred->uid.val;
  p->gid = cred->gid.val;
  p->euid = cred->euid.val;
  p->cgroup_id = t->cgroups->dfl_cgrp->kn->id;
  bpf_probe_read_kernel_str(&p->comm, sizeof p->comm, leader->comm);
}

static __always_inline void fill_hdr(struct vg_hdr* h, __u32 type, struct task_struct* t) {
  h->type = type;
  h->boot_ns = bpf_ktime_get_boot_ns();
  fill_proc(&h->proc, t);
}

static __always_inline struct pathbuf* pathbuf(__u32 slot) {
  return bpf_map_lookup_elem(&path_map, &slot);
}

struct walk_ctx {
  struct dentry* d;
  struct dentry* root; /* of the mount the walk is in */
  struct mount* m;
  __u32 slot;
};

/* One step up the dentry tree: remembers the component's name, or crosses a mount point. */
static long walk_step(__u32 i, void* arg) {
  struct walk_ctx* c = arg;
  struct pathbuf* pb = pathbuf(c->slot);
  if (!pb) return 1;
  /* Locals, not c->x inside BPF_CORE_READ: walk_ctx is not a kernel type. */
  struct dentry* d = c->d;
  struct mount* m = c->m;
  if (d == c->root) {
    struct mount* mp = BPF_CORE_READ(m, mnt_parent);
    if (mp == m) return 1; /* the namespace's root mount */
    c->d = BPF_CORE_READ(m, mnt_mountpoint);
    c->m = mp;
    c->root = BPF_CORE_READ(mp, mnt.mnt_root);
    return 0;
  }
  struct dentry* parent = BPF_CORE_READ(d, d_parent);
  __u64 n = pb->n;
  if (d == parent || n >= PATH_DEPTH) return 1;
  pb->names[n & (PATH_DEPTH - 1)] = BPF_CORE_READ(d, d_name.name);
  pb->n = n + 1;
  c->d = parent;
  return 0;
}

/* Appends "/name" for the components from the root down. */
static long emit_step(__u32 i, void* arg) {
  struct walk_ctx* c = arg;
  struct pathbuf* pb = pathbuf(c->slot);
  if (!pb || i >= pb->n) return 1;
  __u64 j = pb->n - 1 - i;
  __u64 off = pb->off;
  if (off > VG_PATH_CAP - NAME_CAP - 2) return 1;
  pb->buf[BOUND(off, 4095)] = '/';
  off++;
  long r = bpf_probe_read_kernel_str(&pb->buf[BOUND(off, 4095)], NAME_CAP,
                                     pb->names[j & (PATH_DEPTH - 1)]);
  if (r > 1) off += r - 1;
  pb->off = off;
  return 0;
}

/* Writes the absolute path of `path` (a kernel struct path) into the slot's buf; returns its
 * length (< VG_PATH_CAP), or 0 when nothing could be read. A dentry walk bounded at PATH_DEPTH
 * components that crosses mount points through struct mount; bpf_loop keeps verification cheap. */
static __always_inline __u64 path_of_slot(const struct path* path, __u32 slot) {
  struct pathbuf* pb = pathbuf(slot);
  if (!pb) return 0;
  struct walk_ctx c = {};
  c.d = BPF_CORE_READ(path, dentry);
  struct vfsmount* vm = BPF_CORE_READ(path, mnt);
  if (!c.d || !vm) return 0;
  c.root = BPF_CORE_READ(vm, mnt_root);
  c.m = container_of(vm, struct mount, mnt);
  c.slot = slot;
  pb->n = 0;
  pb->off = 0;
  bpf_loop(PATH_DEPTH + 8, walk_step, &c, 0);
  bpf_loop(PATH_DEPTH, emit_step, &c, 0);
  __u64 off = pb->off;
  if (off == 0) {
    pb->buf[0] = '/';
    off = 1;
  }
  return BOUND(off, 4095);
}

static __always_inline struct file* fd_file(struct task_struct* t, int fd) {
  struct fdtable* fdt = t->files->fdt;
  unsigned int max = fdt->max_fds;
  if (fd < 0 || fd >= max) return 0;
  struct file** arr = fdt->fd;
  struct file* f = 0;
  bpf_probe_read_kernel(&f, sizeof f, &arr[fd]);
  return f;
}

static __always_inline struct sock* fd_sock(struct task_struct* t, long fd) {
  struct file* f = fd_file(t, fd);
  if (!f) return 0;
  umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
  if ((mode & S_IFMT) != S_IFSOCK) return 0;
  struct socket* s = BPF_CORE_READ(f, private_data);
  return BPF_CORE_READ(s, sk);
}

/* Absolute form of a user path argument resolved against dfd (AT_FDCWD: the cwd; an int: the
 * register's upper half is not part of it). ".." is not
 * folded. Returns the length in pb->buf, 0 on failure. */
static __always_inline __u32 user_path(struct task_struct* t, int dfd, const char* upath,
                                       __u32 slot) {
  struct pathbuf* pb = pathbuf(slot);
  if (!pb) return 0;
  char first = 0;
  if (bpf_probe_read_user(&first, 1, upath) != 0) return 0;
  __u64 len = 0;
  if (first != '/') {
    if (dfd == AT_FDCWD) {
      struct path pwd = t->fs->pwd;
      len = path_of_slot(&pwd, slot);
    } else {
      struct file* f = fd_file(t, dfd);
      if (!f) return 0;
      struct path fp = BPF_CORE_READ(f, f_path);
      len = path_of_slot(&fp, slot);
    }
    if (len > 1) {
      pb->buf[BOUND(len, 4095)] = '/';
      len++;
    }
  }
  long r = bpf_probe_read_user_str(&pb->buf[BOUND(len, 4095)], VG_PATH_CAP, upath);
  if (r <= 1) return 0;
  len += r - 1;
  if (len > VG_PATH_CAP - 1) len = VG_PATH_CAP - 1;
  return len;
}

/* True when file events for this path are wanted (in-kernel prefix filter). */
static __always_inline int path_wanted(struct pathbuf* pb, __u32 len) {
  if (!file_filter) return 1;
  struct vg_prefix_key key = {};
  key.prefixlen = VG_PREFIX_LEN * 8;
  bpf_probe_read_kernel(key.data, VG_PREFIX_LEN, pb->buf);
  for (int i = 0; i < VG_PREFIX_LEN; i++) {
    if (i >= len) key.data[i] = 0;
    asm volatile("" ::: "memory"); /* keeps clang from turning the loop into memset */
  }
  return bpf_map_lookup_elem(&prefixes, &key) != 0;
}

static __always_inline union scratch* scratch(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&scratch_map, &zero);
}

static __always_inline int is_self(void) {
  return self_tgid != 0 && (bpf_get_current_pid_tgid() >> 32) == self_tgid;
}

/* ------------------------------------------------------------------ process */

/* exe, cwd (unless !cwd) and (for exec) argv of task `t` into rec; returns the record size. */
static __always_inline __u64 fill_image(struct vg_exec* rec, struct task_struct* t, int cwd,
                                        int args) {
  struct pathbuf* pb = pathbuf(0);
  if (!pb) return 0;
  __u64 off = 0;
  struct mm_struct* mm = t->mm;
  struct file* exe = mm->exe_file;
  rec->exe_len = 0;
  if (exe) {
    struct path p = exe->f_path;
    __u64 len = BOUND(path_of_slot(&p, 0), 4095);
    bpf_probe_read_kernel(rec->data, len, pb->buf);
    rec->exe_len = len;
    off = len;
  }
  rec->cwd_len = 0;
  if (cwd) {
    struct path pwd = t->fs->pwd;
    __u64 clen = BOUND(path_of_slot(&pwd, 0), 4095);
    off = BOUND(off, 4095);
    bpf_probe_read_kernel(&rec->data[off], clen, pb->buf);
    rec->cwd_len = clen;
    off += clen;
  }
  rec->args_len = 0;
  if (args) {
    unsigned long start = mm->arg_start;
    unsigned long end = mm->arg_end;
    __u64 alen = end > start ? end - start : 0;
    if (alen > VG_ARGS_CAP) {
      alen = VG_ARGS_CAP;
      rec->flags |= VG_EXEC_ARGS_TRUNCATED;
    }
    off = BOUND(off, 8191);
    alen = BOUND(alen, 16383);
    if (alen > VG_ARGS_CAP) alen = VG_ARGS_CAP;
    if (bpf_probe_read_user(&rec->data[off], alen, (void*)start) == 0) rec->args_len = alen;
    off += rec->args_len;
  }
  __u64 size = offsetof(struct vg_exec, data) + BOUND(off, 16383);
  if (size > sizeof(*rec)) size = sizeof(*rec);
  rec->hdr.size = size;
  return size;
}

/* Kernels before 6.6 kept the times as struct timespec64 (CO-RE flavour). */
#define NSEC_MASK 0x3fffffffu /* nanoseconds (< 10^9 < 2^30) without flag bits */
struct inode___timespec {
  struct timespec64 i_mtime;
  struct timespec64 i_ctime;
};

/* The identity stat(2) gives the executable (see vg_file_id); sets VG_EXEC_EXE_ID on success. */
static __always_inline void fill_exe_id(struct vg_exec* rec, struct task_struct* t) {
  struct inode* ino = t->mm->exe_file->f_inode;
  if (!ino) return;
  struct vg_file_id* id = &rec->exe_id;
  id->dev = ino->i_sb->s_dev;
  id->ino = ino->i_ino;
  id->size = ino->i_size;
  if (bpf_core_field_exists(ino->i_mtime_sec)) {
    /* Bit 31 of i_ctime_nsec is a flag (I_CTIME_QUERIED, multigrain timestamps, 6.13+). */
    id->mtime_ns = ino->i_mtime_sec * 1000000000ll + (ino->i_mtime_nsec & NSEC_MASK);
    id->ctime_ns = ino->i_ctime_sec * 1000000000ll + (ino->i_ctime_nsec & NSEC_MASK);
  } else {
    struct inode___timespec* old = (void*)ino;
    if (!bpf_core_field_exists(old->i_mtime) || !bpf_core_field_exists(old->i_ctime)) return;
    id->mtime_ns =
        BPF_CORE_READ(old, i_mtime.tv_sec) * 1000000000ll + BPF_CORE_READ(old, i_mtime.tv_nsec);
    id->ctime_ns =
        BPF_CORE_READ(old, i_ctime.tv_sec) * 1000000000ll + BPF_CORE_READ(old, i_ctime.tv_nsec);
  }
  rec->flags |= VG_EXEC_EXE_ID;
}

/* What task t runs now, as `processes` keeps it. */
static __always_inline void image_now(struct image* now, struct task_struct* t) {
  now->exe = (__u64)t->mm->exe_file;
  now->cwd = (__u64)t->fs->pwd.dentry;
  now->cwd_mnt = (__u64)t->fs->pwd.mnt;
}

/* Remembers what the record (in the ring) of the task with `key` reported; `st` is its state if
 * the caller has it. */
static __always_inline void image_reported(const struct process_key* key, struct process_state* st,
                                           const struct image* now) {
  if (st) {
    st->reported = *now;
    return;
  }
  struct process_state fresh = {};
  fresh.reported = *now;
  bpf_map_update_elem(&processes, key, &fresh, BPF_ANY);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct* t, pid_t old_pid, struct linux_binprm* bprm) {
  if (is_self()) return 0;
  union scratch* s = scratch();
  if (!s) return 0;
  struct vg_exec* rec = &s->exec;
  fill_hdr(&rec->hdr, VG_EXEC, t);
  rec->flags = 0;
  rec->argc = bprm->argc;
  __builtin_memset(&rec->exe_id, 0, sizeof rec->exe_id);
  fill_exe_id(rec, t);
  struct image now;
  image_now(&now, t);
  /* The working directory an exec keeps is most often the one its fork reported. */
  struct process_key key = process_key(t);
  struct process_state* st = bpf_map_lookup_elem(&processes, &key);
  if (st && st->fork_held) {
    st->fork_held = 0;
    rec->flags |= VG_EXEC_FORK_FOLDED;
    /* The parent that made it, as the fork would have said: a vfork parent may have exited (and
     * the child been reparented) between the exec's switch of memory and this program. */
    const struct vg_hdr* fork_hdr = (const struct vg_hdr*)st->fork_record;
    rec->hdr.proc.ppid = fork_hdr->proc.ppid;
    rec->hdr.proc.parent_start_ticks = fork_hdr->proc.parent_start_ticks;
  }
  int same_cwd = st && st->reported.cwd == now.cwd && st->reported.cwd_mnt == now.cwd_mnt;
  if (same_cwd) rec->flags |= VG_EXEC_CWD_AS_REPORTED;
  __u64 size = fill_image(rec, t, !same_cwd, 1);
  if (size && output(rec, size) == 0) image_reported(&key, st, &now);
  return 0;
}

/* Whether the fork in progress in `parent` (the current task) is vfork-style: the parent waits
 * until the child execs or exits (CLONE_VFORK; glibc's posix_spawn, vfork). From the forking
 * syscall's number and flags in the parent's saved registers. */
static __always_inline int vfork_style(struct task_struct* parent) {
  struct pt_regs* regs = (struct pt_regs*)bpf_task_pt_regs(parent);
  __u64 nr = regs->orig_ax;
  if (nr == NR_vfork) return 1;
  if (nr == NR_clone) return (regs->di & CLONE_VFORK) != 0;
  if (nr != NR_clone3) return 0;
  __u64 flags = 0; /* struct clone_args starts with the flags */
  if (bpf_probe_read_user(&flags, sizeof flags, (const void*)regs->di) != 0) return 0;
  return (flags & CLONE_VFORK) != 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct* parent, struct task_struct* child) {
  if (is_self()) return 0;
  /* A new process, not a thread. */
  if (child->pid != child->tgid) return 0;
  struct process_key parent_key = process_key(parent);
  struct process_state* parent_st = bpf_map_lookup_elem(&processes, &parent_key);
  /* The parent may be a vfork child whose own fork is held: that goes first. */
  send_held_fork(parent_st);
  union scratch* s = scratch();
  if (!s) return 0;
  struct vg_exec* rec = &s->exec;
  fill_hdr(&rec->hdr, VG_FORK, child);
  rec->flags = 0;
  rec->argc = 0;
  __builtin_memset(&rec->exe_id, 0, sizeof rec->exe_id);
  struct image now;
  image_now(&now, child);
  /* (Not when the child's parent is another process: CLONE_PARENT.) */
  struct process_key key = process_key(child);
  const struct image* seen =
      rec->hdr.proc.ppid == parent->tgid && parent_st ? &parent_st->reported : 0;
  if (seen && seen->exe == now.exe && seen->cwd == now.cwd && seen->cwd_mnt == now.cwd_mnt) {
    rec->flags = VG_FORK_IMAGE_OF_PARENT;
    rec->exe_len = rec->cwd_len = rec->args_len = 0;
    rec->hdr.size = offsetof(struct vg_exec, data);
    if (vfork_style(parent)) {
      /* Held: most such children exec at once, and their exec stands for the fork. */
      struct process_state held = {};
      held.reported = now;
      held.fork_held = 1;
      __builtin_memcpy(held.fork_record, rec, sizeof held.fork_record);
      if (bpf_map_update_elem(&processes, &key, &held, BPF_NOEXIST) == 0) return 0;
    }
    /* The child's record reported the same (the agent copies the parent's paths to it). */
    if (output(rec, offsetof(struct vg_exec, data)) == 0) image_reported(&key, 0, &now);
    return 0;
  }
  /* The parent runs the same image (a fork copies it): the agent keeps these paths for the parent
   * too, so that its next children's records can be compact (a process started before the sensor
   * is otherwise never reported). Not under CLONE_PARENT: the child's parent is another process. */
  const int also_parents = rec->hdr.proc.ppid == parent->tgid;
  if (also_parents) rec->flags |= VG_FORK_PATHS_ALSO_PARENTS;
  __u64 size = fill_image(rec, child, 1, 0);
  if (size && output(rec, size) == 0) {
    image_reported(&key, 0, &now);
    if (also_parents) image_reported(&parent_key, parent_st, &now);
  }
  return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct* t) {
  /* Reported once per process: when its last thread exits; a thread's own exit costs nothing more
   * (a lookup of the process's state for every exiting thread was ~0.3 us each, session 24). */
  if (t->signal->live.counter != 0 || is_self()) return 0;
  struct process_key key = process_key(t);
  struct process_state* st = bpf_map_lookup_elem(&processes, &key);
  send_held_fork(st); /* before anything else about the process, its exit too */
  struct vg_exit rec = {};
  fill_hdr(&rec.hdr, VG_EXIT, t);
  rec.hdr.proc.tgid = t->tgid;
  rec.hdr.size = sizeof rec;
  rec.exit_code = t->exit_code;
  output(&rec, sizeof rec);
  if (st) bpf_map_delete_elem(&processes, &key);
  return 0;
}

/* ------------------------------------------------------------------ network */

/* The 5-tuple of sk; local address/port into s*, remote into d*. */
static __always_inline int sock_tuple(struct sock* sk, __u16* family, __u8* saddr, __u16* sport,
                                      __u8* daddr, __u16* dport) {
  __u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (fam == AF_INET) {
    BPF_CORE_READ_INTO((__u32*)saddr, sk, __sk_common.skc_rcv_saddr);
    BPF_CORE_READ_INTO((__u32*)daddr, sk, __sk_common.skc_daddr);
  } else if (fam == AF_INET6) {
    BPF_CORE_READ_INTO((struct in6_addr*)saddr, sk, __sk_common.skc_v6_rcv_saddr);
    BPF_CORE_READ_INTO((struct in6_addr*)daddr, sk, __sk_common.skc_v6_daddr);
  } else {
    return -1;
  }
  *family = fam;
  *sport = BPF_CORE_READ(sk, __sk_common.skc_num);
  *dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_tcp_state, const struct sock* csk, const int oldstate, const int newstate) {
  struct sock* sk = (struct sock*)csk;
  if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP) return 0;
  __u64 key = (__u64)sk;
  if (newstate == TCP_SYN_SENT) {
    /* connect(): process context, before the source port is chosen. */
    if (is_self()) return 0;
    struct task_struct* t = bpf_get_current_task_btf();
    report_held_fork(t); /* the connect's record goes out later, from softirq */
    struct vg_hdr h = {};
    fill_hdr(&h, VG_TCP_CONNECT, t);
    bpf_map_update_elem(&connecting, &key, &h, BPF_ANY);
    return 0;
  }
  if (oldstate != TCP_SYN_SENT) return 0;
  struct vg_hdr* h = bpf_map_lookup_elem(&connecting, &key);
  if (!h) return 0;
  struct vg_net rec = {};
  rec.hdr = *h;
  bpf_map_delete_elem(&connecting, &key);
  rec.hdr.size = sizeof rec;
  rec.protocol = IPPROTO_TCP;
  if (sock_tuple(sk, &rec.family, rec.saddr, &rec.sport, rec.daddr, &rec.dport) != 0) return 0;
  rec.error = newstate == TCP_ESTABLISHED ? 0 : newstate;
  output(&rec, sizeof rec);
  return 0;
}

static __always_inline void on_accept(struct task_struct* t, long fd, long listen_fd) {
  struct sock* sk = fd_sock(t, fd);
  if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP) return;
  struct vg_net rec = {};
  fill_hdr(&rec.hdr, VG_TCP_ACCEPT, t);
  rec.hdr.size = sizeof rec;
  rec.protocol = IPPROTO_TCP;
  /* The peer initiated: it is the source. */
  if (sock_tuple(sk, &rec.family, rec.daddr, &rec.dport, rec.saddr, &rec.sport) != 0) return;
  if (rec.dport == 0) {
    /* Reset before the accept: the kernel unhashed the socket and cleared its local port; the
     * listener's port is the same. */
    struct sock* lsk = fd_sock(t, listen_fd);
    if (lsk) rec.dport = BPF_CORE_READ(lsk, __sk_common.skc_num);
  }
  output_own(&rec, sizeof rec);
}

/* Reads a user sockaddr (IPv4/IPv6) into family/addr/port; 0 on success. */
static __always_inline int user_sockaddr(const void* uaddr, __u16* family, __u8* addr,
                                         __u16* port) {
  if (!uaddr) return -1;
  struct sockaddr_in6 sa = {};
  if (bpf_probe_read_user(&sa, sizeof sa, uaddr) != 0) {
    /* A sockaddr_in at the end of a mapping: retry with the short form. */
    if (bpf_probe_read_user(&sa, sizeof(struct sockaddr_in), uaddr) != 0) return -1;
  }
  if (sa.sin6_family == AF_INET) {
    struct sockaddr_in* in = (struct sockaddr_in*)&sa;
    __builtin_memcpy(addr, &in->sin_addr.s_addr, 4);
    *port = bpf_ntohs(in->sin_port);
  } else if (sa.sin6_family == AF_INET6) {
    __builtin_memcpy(addr, &sa.sin6_addr, 16);
    *port = bpf_ntohs(sa.sin6_port);
  } else {
    return -1;
  }
  *family = sa.sin6_family;
  return 0;
}

/* DNS payload (a user buffer) sent to or received from port 53. */
static __always_inline void dns_payload(struct task_struct* t, struct vg_net_tuple* tuple,
                                        __u16 direction, const void* ubuf, __u64 len) {
  union scratch* s = scratch();
  if (!s || !ubuf || len == 0) return;
  struct vg_dns* rec = &s->dns;
  fill_hdr(&rec->hdr, VG_DNS, t);
  rec->tuple = *tuple;
  rec->direction = direction;
  rec->full_len = len;
  __u64 keep = len > VG_DNS_CAP ? VG_DNS_CAP : len;
  keep = BOUND(keep, 1023);
  if (keep > VG_DNS_CAP) keep = VG_DNS_CAP;
  if (bpf_probe_read_user(rec->data, keep, ubuf) != 0) return;
  rec->len = keep;
  __u64 size = offsetof(struct vg_dns, data) + keep;
  if (size > sizeof(*rec)) size = sizeof(*rec);
  rec->hdr.size = size;
  output_own(rec, size);
}

/* The payload of a user iovec array of `count` entries: the first entry, or the second when the
 * first is 2 bytes long — DNS over TCP's length prefix, which glibc's resolver sends as its own
 * iovec (writev) before the message. 0 on success. */
static __always_inline int iov_payload(const struct iovec* uiov, __u64 count, void** base,
                                       __u64* len) {
  struct iovec iov[2] = {};
  if (!uiov || count == 0) return -1;
  if (bpf_probe_read_user(iov, (count > 1 ? 2 : 1) * sizeof(struct iovec), uiov) != 0) return -1;
  int i = count > 1 && iov[0].iov_len == 2 ? 1 : 0;
  *base = iov[i].iov_base;
  *len = iov[i].iov_len;
  return 0;
}

/* The payload (iov_payload) and name of a user msghdr. */
static __always_inline int msg_iov0(const struct user_msghdr* umsg, void** base, __u64* len,
                                    void** name) {
  struct user_msghdr m = {};
  if (bpf_probe_read_user(&m, sizeof m, umsg) != 0) return -1;
  *name = m.msg_name;
  *base = 0;
  *len = 0;
  iov_payload(m.msg_iov, m.msg_iovlen, base, len);
  return 0;
}

/* A send on a UDP or TCP socket: UDP flow (rate limited) and DNS query capture. uaddr: the
 * destination the call named (user memory), or 0; buf/len: the payload (user memory), or 0. */
static __always_inline void on_send(struct task_struct* t, struct sock* sk, const void* uaddr,
                                    const void* buf, __u64 len) {
  if (!sk) return;
  __u16 proto = BPF_CORE_READ(sk, sk_protocol);
  if (proto != IPPROTO_UDP && proto != IPPROTO_TCP) return;
  struct vg_net_tuple tp = {};
  tp.protocol = proto;
  if (sock_tuple(sk, &tp.family, tp.saddr, &tp.sport, tp.daddr, &tp.dport) != 0) return;
  if (proto == IPPROTO_UDP && uaddr) {
    __u16 fam = 0;
    if (user_sockaddr(uaddr, &fam, tp.daddr, &tp.dport) != 0) return;
    if (fam == AF_INET && tp.family == AF_INET6) {
      /* an IPv4 destination from a dual-stack socket: keep it as IPv4. */
      __builtin_memset(tp.saddr, 0, 16);
    }
    tp.family = fam;
  }
  if (tp.dport == 0) return;
  if (proto == IPPROTO_UDP) {
    struct udp_key k = {};
    k.tgid = t->tgid;
    k.family = tp.family;
    k.dport = tp.dport;
    __builtin_memcpy(k.daddr, tp.daddr, 16);
    __u64 now = bpf_ktime_get_boot_ns();
    __u64* last = bpf_map_lookup_elem(&udp_seen, &k);
    if (!last || now - *last >= udp_window_ns) {
      bpf_map_update_elem(&udp_seen, &k, &now, BPF_ANY);
      struct vg_net rec = {};
      fill_hdr(&rec.hdr, VG_UDP_FLOW, t);
      rec.hdr.size = sizeof rec;
      rec.family = tp.family;
      rec.protocol = IPPROTO_UDP;
      rec.sport = tp.sport;
      rec.dport = tp.dport;
      __builtin_memcpy(rec.saddr, tp.saddr, 16);
      __builtin_memcpy(rec.daddr, tp.daddr, 16);
      output_own(&rec, sizeof rec);
    }
  }
  if (tp.dport == 53) {
    __u64 key = (__u64)sk;
    bpf_map_update_elem(&dns_socks, &key, &tp, BPF_ANY);
    dns_payload(t, &tp, VG_DNS_SENT, buf, len);
  }
}

/* ------------------------------------------------------------------ files */

static __always_inline void emit_file(struct task_struct* t, __u32 op, __u32 mode,
                                      struct pathbuf* pb, __u32 len, struct pathbuf* pb2,
                                      __u32 len2) {
  union scratch* s = scratch();
  if (!s) return;
  struct vg_file* rec = &s->file;
  fill_hdr(&rec->hdr, VG_FILE, t);
  rec->op = op;
  rec->mode = mode;
  __u64 l1 = BOUND(len, 4095);
  bpf_probe_read_kernel(rec->data, l1, pb->buf);
  rec->path_len = l1;
  rec->path2_len = 0;
  if (pb2) {
    __u64 l2 = BOUND(len2, 4095);
    bpf_probe_read_kernel(&rec->data[BOUND(l1, 4095)], l2, pb2->buf);
    rec->path2_len = len2;
  }
  __u64 size = offsetof(struct vg_file, data) + rec->path_len + rec->path2_len;
  if (size > sizeof(*rec)) size = sizeof(*rec);
  rec->hdr.size = size;
  output_own(rec, size);
}

/* open* that succeeded with fd: creation or open for writing. */
static __always_inline void on_open_exit(struct task_struct* t, long fd, __u64 flags) {
  struct file* f = fd_file(t, fd);
  struct pathbuf* pb = pathbuf(0);
  if (!f || !pb) return;
  struct path p = BPF_CORE_READ(f, f_path);
  __u32 len = path_of_slot(&p, 0);
  if (!len || !path_wanted(pb, len)) return;
  __u32 fmode = BPF_CORE_READ(f, f_mode);
  emit_file(t, (fmode & FMODE_CREATED) ? VG_FILE_CREATE : VG_FILE_WRITE, flags, pb, len, 0, 0);
}

static __always_inline void on_path_exit(struct task_struct* t, const struct sys_call* p) {
  struct pathbuf* pb = pathbuf(0);
  if (!pb) return;
  __u32 len = 0;
  __u32 op = 0, mode = 0;
  switch (p->nr) {
    case NR_unlink:
      len = user_path(t, AT_FDCWD, (const char*)p->args[0], 0);
      op = VG_FILE_UNLINK;
      break;
    case NR_unlinkat:
      len = user_path(t, p->args[0], (const char*)p->args[1], 0);
      op = VG_FILE_UNLINK;
      break;
    case NR_chmod:
      len = user_path(t, AT_FDCWD, (const char*)p->args[0], 0);
      op = VG_FILE_CHMOD;
      mode = p->args[1];
      break;
    case NR_fchmodat:
    case NR_fchmodat2:
      len = user_path(t, p->args[0], (const char*)p->args[1], 0);
      op = VG_FILE_CHMOD;
      mode = p->args[2];
      break;
    case NR_fchmod: {
      struct file* f = fd_file(t, p->args[0]);
      if (!f) return;
      struct path fp = BPF_CORE_READ(f, f_path);
      len = path_of_slot(&fp, 0);
      op = VG_FILE_CHMOD;
      mode = p->args[1];
      break;
    }
    default:
      return;
  }
  if (!len || !path_wanted(pb, len)) return;
  emit_file(t, op, mode, pb, len, 0, 0);
}

static __always_inline void on_rename_exit(struct task_struct* t, const struct sys_call* p) {
  struct pathbuf* pb = pathbuf(0);
  struct pathbuf* pb2 = pathbuf(1);
  if (!pb || !pb2) return;
  __u32 len, len2;
  if (p->nr == NR_rename) {
    len = user_path(t, AT_FDCWD, (const char*)p->args[0], 0);
    len2 = user_path(t, AT_FDCWD, (const char*)p->args[1], 1);
  } else {
    len = user_path(t, p->args[0], (const char*)p->args[1], 0);
    len2 = user_path(t, p->args[2], (const char*)p->args[3], 1);
  }
  if (!len || !len2) return;
  if (!path_wanted(pb, len) && !path_wanted(pb2, len2)) return;
  emit_file(t, VG_FILE_RENAME, 0, pb, len, pb2, len2);
}

static __always_inline void on_module(struct task_struct* t, const struct sys_call* p, long ret) {
  union scratch* s = scratch();
  if (!s) return;
  struct vg_module* rec = &s->module;
  fill_hdr(&rec->hdr, VG_MODULE, t);
  rec->syscall_nr = p->nr;
  rec->ret = ret;
  rec->path_len = 0;
  if (p->nr == NR_finit_module) {
    struct pathbuf* pb = pathbuf(0);
    struct file* f = fd_file(t, p->args[0]);
    if (pb && f) {
      struct path fp = BPF_CORE_READ(f, f_path);
      __u64 len = BOUND(path_of_slot(&fp, 0), 4095);
      bpf_probe_read_kernel(rec->data, len, pb->buf);
      rec->path_len = len;
    }
  }
  __u64 size = offsetof(struct vg_module, data) + rec->path_len;
  if (size > sizeof(*rec)) size = sizeof(*rec);
  rec->hdr.size = size;
  output_own(rec, size);
}

/* ------------------------------------------------------------------ syscalls */

/* Two ways in, the same handler, at syscall exit only: per-syscall tracepoints
 * (tracepoint/syscalls/sys_exit_X: only the syscalls below run a program; needs tracefs, which the
 * agent mounts when absent) or, as the fallback, the raw sys_exit tracepoint, which runs a program
 * on every syscall of the host and switches on its number. User space loads one set
 * (docs/sensor.md). */

/* The syscalls with a handler below (the raw program's first test). */
static __always_inline int followed(long id) {
  switch (id) {
    case NR_open:
    case NR_openat:
    case NR_openat2:
    case NR_creat:
    case NR_rename:
    case NR_renameat:
    case NR_renameat2:
    case NR_unlink:
    case NR_unlinkat:
    case NR_chmod:
    case NR_fchmod:
    case NR_fchmodat:
    case NR_fchmodat2:
    case NR_accept:
    case NR_accept4:
    case NR_init_module:
    case NR_finit_module:
      return 1;
    case NR_recvfrom:
    case NR_recvmsg:
    case NR_sendto:
    case NR_sendmsg:
    case NR_sendmmsg:
      return !socket_layer;
    default:
      return 0;
  }
}

/* A receive of len bytes into buf (user memory) on sk: a DNS answer when it comes from port 53.
 * name: the source address the call asked for (user memory, filled in by the time the syscall
 * returns), or 0. */
static __always_inline void on_recv(struct task_struct* t, struct sock* sk, const void* buf,
                                    __u64 len, const void* name) {
  if (!sk) return;
  __u16 proto = BPF_CORE_READ(sk, sk_protocol);
  if (proto != IPPROTO_UDP && proto != IPPROTO_TCP) return;
  struct vg_net_tuple tp = {};
  tp.protocol = proto;
  /* The server is the source of an answer. */
  if (sock_tuple(sk, &tp.family, tp.daddr, &tp.dport, tp.saddr, &tp.sport) != 0) return;
  if (proto == IPPROTO_UDP && name) {
    __u16 fam = 0;
    if (user_sockaddr(name, &fam, tp.saddr, &tp.sport) == 0) tp.family = fam;
  }
  if (tp.sport != 53) {
    /* Not connected and no source address asked for: the query this socket sent says. */
    __u64 key = (__u64)sk;
    struct vg_net_tuple* q = bpf_map_lookup_elem(&dns_socks, &key);
    if (!q) return;
    tp.family = q->family;
    __builtin_memcpy(tp.saddr, q->daddr, 16);
    __builtin_memcpy(tp.daddr, q->saddr, 16);
    tp.sport = q->dport;
    tp.dport = q->sport;
  }
  dns_payload(t, &tp, VG_DNS_RECEIVED, buf, len);
}

static __always_inline void on_recv_exit(struct task_struct* t, const struct sys_call* p,
                                         long ret) {
  __u64 len = ret;
  if (p->nr == NR_recvfrom) {
    on_recv(t, fd_sock(t, p->args[0]), (const void*)p->args[1], len, (const void*)p->args[4]);
    return;
  }
  void *base = 0, *name = 0;
  __u64 blen = 0;
  if (msg_iov0((const struct user_msghdr*)p->args[1], &base, &blen, &name) != 0) return;
  if (blen < len) len = blen;
  on_recv(t, fd_sock(t, p->args[0]), base, len, name);
}

/* The flags an open was called with (creat: create for writing). */
static __always_inline __u64 open_flags(const struct sys_call* c) {
  switch (c->nr) {
    case NR_open:
      return c->args[1];
    case NR_openat:
      return c->args[2];
    case NR_openat2: {
      struct open_how how = {};
      if (bpf_probe_read_user(&how, sizeof how, (void*)c->args[2]) != 0) return 0;
      return how.flags;
    }
    default:
      return O_CREAT | O_WRONLY;
  }
}

/* A followed syscall returned `ret`. Each per-syscall program inlines this with its own `id`, so
 * the switch folds to that syscall's case; the raw program switches at run time. */
static __always_inline int on_sys_exit(long id, long ret, struct pt_regs* regs) {
  struct sys_call c;
  read_call(&c, id, regs);
  switch (id) {
    case NR_open:
    case NR_openat:
    case NR_openat2:
    case NR_creat: {
      /* A read-only open (most opens; a dynamic exec makes two) returns here. */
      if (ret < 0) return 0;
      __u64 flags = open_flags(&c);
      if (!(flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) || is_self()) return 0;
      on_open_exit(bpf_get_current_task_btf(), ret, flags);
      return 0;
    }
    case NR_sendto: {
      /* Reported whether or not the send succeeded: a refused query or flow is still an attempt. */
      if (is_self()) return 0;
      struct task_struct* t = bpf_get_current_task_btf();
      on_send(t, fd_sock(t, c.args[0]), (const void*)c.args[4], (const void*)c.args[1], c.args[2]);
      return 0;
    }
    case NR_sendmsg:
    case NR_sendmmsg: {
      if (is_self()) return 0;
      struct task_struct* t = bpf_get_current_task_btf();
      void *base = 0, *name = 0;
      __u64 len = 0;
      if (msg_iov0((const struct user_msghdr*)c.args[1], &base, &len, &name) != 0) return 0;
      on_send(t, fd_sock(t, c.args[0]), name, base, len);
      return 0;
    }
    case NR_accept:
    case NR_accept4:
      if (ret < 0 || is_self()) return 0;
      on_accept(bpf_get_current_task_btf(), ret, c.args[0]); /* args[0]: the listener's fd */
      return 0;
    case NR_init_module:
    case NR_finit_module:
      /* A failed module load is still an attempt worth reporting. */
      if (is_self()) return 0;
      on_module(bpf_get_current_task_btf(), &c, ret);
      return 0;
    default:
      break;
  }
  /* Other failures changed nothing. */
  if (ret < 0 || is_self()) return 0;
  struct task_struct* t = bpf_get_current_task_btf();
  switch (id) {
    case NR_rename:
    case NR_renameat:
    case NR_renameat2:
      on_rename_exit(t, &c);
      return 0;
    case NR_recvfrom:
    case NR_recvmsg:
      if (ret > 0) on_recv_exit(t, &c, ret);
      return 0;
    default:
      if (id == NR_chmod || id == NR_fchmodat || id == NR_fchmodat2 || id == NR_fchmod) {
        /* only chmods that make a file executable */
        __u64 mode = (id == NR_fchmodat || id == NR_fchmodat2) ? c.args[2] : c.args[1];
        if (!(mode & 0111)) return 0;
      }
      on_path_exit(t, &c);
      return 0;
  }
}

/* --- the fallback: raw sys_exit, every syscall of the host. */

/* tp_btf gives regs as a typed kernel pointer: direct (CO-RE relocated) loads, no helper call. */
SEC("tp_btf/sys_exit")
int BPF_PROG(handle_sys_exit, struct pt_regs* regs, long ret) {
  __u64 id = regs->orig_ax; /* a direct load: this runs on every syscall of the host */
  if (!followed(id)) return 0;
  if (bpf_get_current_task_btf()->thread_info.status & TS_COMPAT) return 0;
  return on_sys_exit(id, ret, regs);
}

/* --- per-syscall exit tracepoints: a program only for the syscalls above. */

#define SYSCALL_EXIT(name)                                                                \
  SEC("tracepoint/syscalls/sys_exit_" #name)                                              \
  int tp_exit_##name(struct trace_event_raw_sys_exit* ctx) {                              \
    struct pt_regs* regs = (struct pt_regs*)bpf_task_pt_regs(bpf_get_current_task_btf()); \
    return on_sys_exit(NR_##name, ctx->ret, regs);                                        \
  }

SYSCALL_EXIT(accept)
SYSCALL_EXIT(accept4)
SYSCALL_EXIT(sendto)
SYSCALL_EXIT(sendmsg)
SYSCALL_EXIT(sendmmsg)
SYSCALL_EXIT(open)
SYSCALL_EXIT(openat)
SYSCALL_EXIT(openat2)
SYSCALL_EXIT(creat)
SYSCALL_EXIT(rename)
SYSCALL_EXIT(renameat)
SYSCALL_EXIT(renameat2)
SYSCALL_EXIT(unlink)
SYSCALL_EXIT(unlinkat)
SYSCALL_EXIT(chmod)
SYSCALL_EXIT(fchmod)
SYSCALL_EXIT(fchmodat)
SYSCALL_EXIT(fchmodat2)
SYSCALL_EXIT(recvfrom)
SYSCALL_EXIT(recvmsg)
SYSCALL_EXIT(init_module)
SYSCALL_EXIT(finit_module)

/* --- the socket layer (6.3+): sock:sock_send_length and sock_recv_length run after every send and
 * receive on a socket, in the caller's context, whatever the syscall (send, sendto, sendmsg,
 * sendmmsg, write, writev; recv*, read, readv). They replace the send and receive syscall
 * programs where the kernel has them: no syscall tracepoint for DNS and UDP, and more of the ways
 * to send. The payload (user memory) is found through the syscall's saved registers. */

/* Per thread: which message of a sendmmsg call the next send is (the tracepoint runs once per
 * message and does not say which). */
struct mmsg_cursor {
  __u64 vec;  /* the call's struct mmsghdr array (user memory) */
  __u64 next; /* the index of the next message */
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, struct mmsg_cursor);
} mmsg_cursors SEC(".maps");

/* The message of the sendmmsg call (vec, vlen) that sent `sent` bytes: the next one after the
 * thread's last, when that one's first iovec is that long, else the first. */
static __always_inline const struct user_msghdr* mmsg_current(struct task_struct* t, __u64 vec,
                                                              __u64 vlen, long sent) {
  __u32 tid = t->pid;
  struct mmsg_cursor* c = bpf_map_lookup_elem(&mmsg_cursors, &tid);
  __u64 index = 0;
  if (c && c->vec == vec && c->next < vlen && c->next < 1024) {
    const struct mmsghdr* m = (const struct mmsghdr*)vec + c->next;
    void *base = 0, *name = 0;
    __u64 len = 0;
    if (msg_iov0(&m->msg_hdr, &base, &len, &name) == 0 && (sent < 0 || len == (__u64)sent))
      index = c->next;
  }
  struct mmsg_cursor next = {.vec = vec, .next = index + 1};
  bpf_map_update_elem(&mmsg_cursors, &tid, &next, BPF_ANY);
  return &((const struct mmsghdr*)vec + index)->msg_hdr;
}

/* The user buffer of the send or receive in progress in t (and for a send the destination it
 * named, or 0), from the syscall t is in. Returns -1 when that is not a syscall of these (io_uring,
 * a kernel thread, a 32-bit syscall): a connected socket's flow is still known then, a payload is
 * not. */
static __always_inline int socket_call(struct task_struct* t, long ret, const void** buf,
                                       __u64* len, const void** uaddr) {
  if (t->flags & (PF_KTHREAD | PF_IO_WORKER)) return -1;
  if (t->thread_info.status & TS_COMPAT) return -1;
  struct pt_regs* regs = (struct pt_regs*)bpf_task_pt_regs(t);
  __u64 nr = regs->orig_ax;
  const struct user_msghdr* msg = 0;
  switch (nr) {
    case NR_sendto:
      *uaddr = (const void*)regs->r8;
      /* fallthrough */
    case NR_recvfrom:
    case NR_read:
    case NR_write:
      *buf = (const void*)regs->si;
      *len = regs->dx;
      return 0;
    case NR_readv:
    case NR_writev: {
      void* base = 0;
      if (iov_payload((const struct iovec*)regs->si, regs->dx, &base, len) != 0) return -1;
      *buf = base;
      return 0;
    }
    case NR_sendmsg:
    case NR_recvmsg:
      msg = (const struct user_msghdr*)regs->si;
      break;
    case NR_sendmmsg:
      msg = mmsg_current(t, regs->si, regs->dx, ret);
      break;
    default:
      return -1;
  }
  void *base = 0, *name = 0;
  if (msg_iov0(msg, &base, len, &name) != 0) return -1;
  *buf = base;
  if (nr != NR_recvmsg) *uaddr = name; /* a receive's is filled in after this tracepoint */
  return 0;
}

/* An IPv4/IPv6 UDP or TCP socket, else 0. */
static __always_inline __u16 inet_protocol(struct sock* sk) {
  __u16 family = sk->__sk_common.skc_family;
  if (family != AF_INET && family != AF_INET6) return 0;
  __u16 proto = sk->sk_protocol;
  return proto == IPPROTO_UDP || proto == IPPROTO_TCP ? proto : 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(handle_sock_send, struct sock* sk, int ret, int flags) {
  /* Every send of the host comes here: TCP only to port 53 (DNS over TCP). */
  __u16 proto = inet_protocol(sk);
  if (!proto || (proto == IPPROTO_TCP && sk->__sk_common.skc_dport != bpf_htons(53))) return 0;
  if (is_self()) return 0;
  struct task_struct* t = bpf_get_current_task_btf();
  if (t->flags & PF_KTHREAD) return 0; /* the kernel's own sockets (NFS, ...) */
  const void *buf = 0, *uaddr = 0;
  __u64 len = 0;
  socket_call(t, ret, &buf, &len, &uaddr);
  /* Reported whether or not the send succeeded: a refused query or flow is still an attempt. */
  on_send(t, sk, uaddr, buf, len);
  return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(handle_sock_recv, struct sock* sk, int ret, int flags) {
  /* A peek is read again. Only answers: from port 53, or to a socket that sent a query. */
  if (ret <= 0 || (flags & MSG_PEEK)) return 0;
  __u16 proto = inet_protocol(sk);
  if (!proto) return 0;
  __u16 peer_port = sk->__sk_common.skc_dport;
  if (peer_port != bpf_htons(53) && (proto == IPPROTO_TCP || peer_port != 0)) return 0;
  if (is_self()) return 0;
  struct task_struct* t = bpf_get_current_task_btf();
  const void *buf = 0, *uaddr = 0;
  __u64 len = 0;
  if (socket_call(t, ret, &buf, &len, &uaddr) != 0) return 0;
  if (len > (__u64)ret) len = ret;
  on_recv(t, sk, buf, len, 0);
  return 0;
}
