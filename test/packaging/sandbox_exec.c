/*
 * sandbox_exec: applies to itself the seccomp rules that systemd 252 derives
 * from a unit's SystemCallFilter=, SystemCallErrorNumber=EPERM,
 * SystemCallArchitectures=native, RestrictAddressFamilies= and
 * MemoryDenyWriteExecute=, then executes a command under them. Tests use it
 * to run vigia (and deno) under the rules of systemd/vigia.service without a
 * running systemd. Written for x86_64.
 *
 *   sandbox_exec [--mdwe] [--syscalls FILE] [--families N,N,...] -- COMMAND [ARG...]
 *
 *   --mdwe         refuse mmap(PROT_WRITE|PROT_EXEC), mprotect/pkey_mprotect(PROT_EXEC)
 *                  and shmat(SHM_EXEC) with EPERM, as MemoryDenyWriteExecute=yes does
 *   --syscalls F   allow only the syscalls named in F (one per line); every other
 *                  syscall fails with EPERM
 *   --families L   socket() with an address family not in L (numbers) fails with
 *                  EAFNOSUPPORT
 * Non-native (x32 / i386) system calls kill the process.
 * Syscall names are resolved with libseccomp (the library systemd itself uses).
 *
 * Exit: the command's, or 125 (usage), 126 (filter not installed), 127 (exec failed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

/* From libseccomp (seccomp.h is not needed for this one call). */
int seccomp_syscall_resolve_name(const char *name);

#define MAX_INSNS 4000
#define ARG_LOW(n) (offsetof(struct seccomp_data, args) + 8 * (n))
#define NR offsetof(struct seccomp_data, nr)
#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

static struct sock_filter prog[MAX_INSNS];
static unsigned short len;

static void emit(struct sock_filter insn) {
  if (len >= MAX_INSNS) {
    fprintf(stderr, "sandbox_exec: filter too long\n");
    exit(125);
  }
  prog[len++] = insn;
}

static void stmt(unsigned short code, unsigned int k) { emit((struct sock_filter)BPF_STMT(code, k)); }
static void jump(unsigned short code, unsigned int k, unsigned char jt, unsigned char jf) {
  emit((struct sock_filter)BPF_JUMP(code, k, jt, jf));
}

/* if (arg2 & mask) == value: return EPERM; then reload the syscall number. Five instructions. */
static void refuse_when_arg2_masked(unsigned int mask, unsigned int value) {
  stmt(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(2));
  stmt(BPF_ALU | BPF_AND | BPF_K, mask);
  jump(BPF_JMP | BPF_JEQ | BPF_K, value, 0, 1);
  stmt(BPF_RET | BPF_K, RET_ERRNO(EPERM));
  stmt(BPF_LD | BPF_W | BPF_ABS, NR);
}

int main(int argc, char **argv) {
  int mdwe = 0;
  const char *syscalls_file = NULL;
  char *families = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    } else if (strcmp(argv[i], "--mdwe") == 0) {
      mdwe = 1;
    } else if (strcmp(argv[i], "--syscalls") == 0 && i + 1 < argc) {
      syscalls_file = argv[++i];
    } else if (strcmp(argv[i], "--families") == 0 && i + 1 < argc) {
      families = argv[++i];
    } else {
      fprintf(stderr, "usage: sandbox_exec [--mdwe] [--syscalls FILE] [--families N,...] -- COMMAND [ARG...]\n");
      return 125;
    }
  }
  if (i >= argc) {
    fprintf(stderr, "sandbox_exec: no command\n");
    return 125;
  }

  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
  stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  stmt(BPF_LD | BPF_W | BPF_ABS, NR);
  jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u /* x32 */, 0, 1);
  stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);

  if (families) {
    int fams[64], n = 0;
    for (char *tok = strtok(families, ","); tok && n < 64; tok = strtok(NULL, ",")) fams[n++] = atoi(tok);
    /* socket()? Its family must be listed: a match jumps past the refusal. */
    jump(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, (unsigned char)(n + 3));
    stmt(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(0));
    for (int f = 0; f < n; f++) {
      jump(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)fams[f], (unsigned char)(n - f), 0);
    }
    stmt(BPF_RET | BPF_K, RET_ERRNO(EAFNOSUPPORT));
    stmt(BPF_LD | BPF_W | BPF_ABS, NR);
  }

  if (mdwe) {
    jump(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 0, 5);
    refuse_when_arg2_masked(PROT_WRITE | PROT_EXEC, PROT_WRITE | PROT_EXEC);
    jump(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 1, 0);
    jump(BPF_JMP | BPF_JEQ | BPF_K, __NR_pkey_mprotect, 0, 5);
    refuse_when_arg2_masked(PROT_EXEC, PROT_EXEC);
    jump(BPF_JMP | BPF_JEQ | BPF_K, __NR_shmat, 0, 5);
    refuse_when_arg2_masked(SHM_EXEC, SHM_EXEC);
  }

  if (syscalls_file) {
    FILE *f = fopen(syscalls_file, "r");
    if (!f) {
      perror(syscalls_file);
      return 125;
    }
    char line[128];
    int allowed = 0;
    while (fgets(line, sizeof line, f)) {
      line[strcspn(line, " \t\r\n")] = 0;
      if (!line[0] || line[0] == '#') continue;
      int nr = seccomp_syscall_resolve_name(line);
      if (nr < 0) continue; /* not a syscall on x86_64 (mmap2, socketcall, ...) */
      jump(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)nr, 0, 1);
      stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
      allowed++;
    }
    fclose(f);
    if (allowed == 0) {
      fprintf(stderr, "sandbox_exec: no known syscall in %s\n", syscalls_file);
      return 125;
    }
    stmt(BPF_RET | BPF_K, RET_ERRNO(EPERM));
  } else {
    stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  }

  struct sock_fprog fprog = {.len = len, .filter = prog};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    perror("sandbox_exec: PR_SET_NO_NEW_PRIVS");
    return 126;
  }
  if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
    perror("sandbox_exec: seccomp");
    return 126;
  }
  execvp(argv[i], argv + i);
  fprintf(stderr, "sandbox_exec: cannot execute %s: %s\n", argv[i], strerror(errno));
  return 127;
}
