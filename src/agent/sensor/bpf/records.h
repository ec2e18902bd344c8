/* Records the eBPF sensor's kernel programs write into the ring buffer, shared by the BPF side
 * (sensor.bpf.c, compiled with clang -target bpf against vmlinux.h) and the user side
 * (ebpf_source.cpp). Plain C, fixed-width types, no padding surprises: every struct is laid out
 * with explicit sizes. Variable-length parts follow the fixed part in `data`. */
#ifndef VIGIL_SENSOR_BPF_RECORDS_H
#define VIGIL_SENSOR_BPF_RECORDS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define VG_COMM_LEN 16
#define VG_PATH_CAP 4096 /* a path (exe, cwd, file) is cut to VG_PATH_CAP - 1 bytes */
#define VG_ARGS_CAP 8192 /* argv bytes kept per exec (NUL separated) */
#define VG_DNS_CAP 512   /* DNS payload bytes kept per message */
#define VG_PREFIX_LEN 64 /* bytes of a path the in-kernel prefix filter looks at */

enum vg_record_type {
  VG_EXEC = 1,
  VG_FORK = 2,
  VG_EXIT = 3,
  VG_TCP_CONNECT = 4,
  VG_TCP_ACCEPT = 5,
  VG_UDP_FLOW = 6,
  VG_FILE = 7,
  VG_DNS = 8,
  VG_MODULE = 9,
};

/* Indexes of the per-CPU counters map `counters`. */
enum vg_counter {
  VG_COUNT_DROPS = 0,   /* records the ring buffer had no room for */
  VG_COUNT_WAKEUPS = 1, /* records that woke the reader (one per wakeup_bytes waiting) */
  VG_COUNTERS = 2,
};

/* The process a record is about (exec, fork child, exit) or that caused it (everything else). */
struct vg_proc {
  __u64 start_ticks;        /* task start_boottime as /proc/PID/stat field 22 (USER_HZ ticks) */
  __u64 parent_start_ticks; /* the same for real_parent's thread-group leader */
  __u64 cgroup_id;          /* cgroup v2 id (kernfs inode number) */
  __u32 tgid, tid, ppid;    /* ppid = real_parent->tgid */
  __u32 uid, gid, euid;
  char comm[VG_COMM_LEN];
};

struct vg_hdr {
  __u32 type;    /* enum vg_record_type */
  __u32 size;    /* bytes of the whole record */
  __u64 boot_ns; /* bpf_ktime_get_boot_ns() */
  struct vg_proc proc;
};

#define VG_EXEC_ARGS_TRUNCATED 1
#define VG_EXEC_EXE_TRUNCATED 2
#define VG_EXEC_CWD_TRUNCATED 4

#define VG_EXEC_EXE_ID 8 /* exe_id is set */
/* fork only: the child's executable and working directory are those the parent's last exec or
 * fork record reported (same file and dentry), so the record leaves them out (exe_len = cwd_len =
 * 0) and the agent takes them from the parent's process entry. */
#define VG_FORK_IMAGE_OF_PARENT 16
/* exec only: the working directory is the one this process's last record reported (same dentry);
 * cwd_len = 0 and the agent keeps what it has. */
#define VG_EXEC_CWD_AS_REPORTED 32
/* exec only: this process was made by a vfork-style clone (CLONE_VFORK: vfork, posix_spawn) of a
 * parent whose image the agent has, and its fork record was held back and folded into this exec:
 * the exec stands for both. VG_EXEC_CWD_AS_REPORTED then means "the parent's last reported working
 * directory". A held fork whose child does anything else reported first (or exits without an
 * exec) goes out before that record, as usual. */
#define VG_EXEC_FORK_FOLDED 64
/* fork only, with paths: they are the parent's image too (a fork copies it), and the kernel now
 * takes them as what the parent's last record reported (its next children may be compact). */
#define VG_FORK_PATHS_ALSO_PARENTS 128

/* The executable file's identity as stat(2) would report it (dev in the kernel's encoding:
 * major << 20 | minor): the agent keys its hash cache with it without a syscall. */
struct vg_file_id {
  __u64 dev, ino, size;
  __s64 mtime_ns, ctime_ns;
};

/* exec and fork: data = exe (exe_len) | cwd (cwd_len) | argv (args_len, NUL separated). */
struct vg_exec {
  struct vg_hdr hdr;
  __u32 argc; /* linux_binprm argc: every argument, kept or not */
  __u16 exe_len, cwd_len, args_len, flags;
  __u32 pad;
  struct vg_file_id exe_id; /* exec only, when flags has VG_EXEC_EXE_ID */
  char data[VG_PATH_CAP + VG_PATH_CAP + VG_ARGS_CAP];
};

struct vg_exit {
  struct vg_hdr hdr;
  __u32 exit_code; /* task->exit_code: wait status (exit << 8 | signal) */
  __u32 pad;
};

/* A connection or flow. Addresses in network byte order; ports in host order. For accept,
 * source is the remote peer (it initiated) and destination is the local socket. */
struct vg_net {
  struct vg_hdr hdr;
  __u16 family;   /* AF_INET or AF_INET6 */
  __u16 protocol; /* IPPROTO_TCP or IPPROTO_UDP */
  __u16 sport, dport;
  __u8 saddr[16], daddr[16];
  __s32 error; /* 0, or the state the connect failed in (TCP: SYN_SENT -> CLOSE) */
  __u32 pad;
};

enum vg_file_op {
  VG_FILE_CREATE = 1, /* open/creat that created the file (FMODE_CREATED) */
  VG_FILE_WRITE = 2,  /* open for writing an existing file */
  VG_FILE_RENAME = 3,
  VG_FILE_UNLINK = 4,
  VG_FILE_CHMOD = 5, /* chmod adding an execute bit */
};

/* data = path (path_len) | target path (path2_len, rename only). */
struct vg_file {
  struct vg_hdr hdr;
  __u32 op;
  __u32 mode; /* chmod mode, or the open flags for create/write */
  __u16 path_len, path2_len;
  __u32 pad;
  char data[VG_PATH_CAP + VG_PATH_CAP];
};

#define VG_DNS_SENT 1
#define VG_DNS_RECEIVED 2

struct vg_dns {
  struct vg_hdr hdr;
  struct vg_net_tuple {
    __u16 family, protocol, sport, dport;
    __u8 saddr[16], daddr[16]; /* for received messages, source is the server */
  } tuple;
  __u16 direction; /* VG_DNS_SENT or VG_DNS_RECEIVED */
  __u16 len;       /* payload bytes kept */
  __u32 full_len;  /* payload bytes of the message */
  __u8 data[VG_DNS_CAP];
};

/* init_module / finit_module, successful or not: data = module file path (finit_module), else
 * empty. */
struct vg_module {
  struct vg_hdr hdr;
  __u16 path_len, syscall_nr;
  __s32 ret; /* the syscall's return value: 0, or -errno of a failed attempt */
  char data[VG_PATH_CAP];
};

/* Key of the in-kernel path prefix filter (an LPM trie on the first VG_PREFIX_LEN bytes). */
struct vg_prefix_key {
  __u32 prefixlen; /* bits */
  __u8 data[VG_PREFIX_LEN];
};

#endif
